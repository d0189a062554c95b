/**
 * Running commands, and what bench/run.ts records about the machine.
 *
 * @module
 */

/** Runs a command to its end; never throws for a command that exits non-zero. */
export async function sh(
  cmd: string[],
  cwd: string,
): Promise<{ code: number; out: string; err: string }> {
  const p = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: p.code, out: dec.decode(p.stdout), err: dec.decode(p.stderr) };
}

/** The machine, as the results record it. */
export interface Machine {
  nproc: number;
  cpuModel: string;
  memGiB: number;
  kernel: string;
  deno: string;
  v8: string;
  node: string;
  /** Server on CPU 0, load generator on CPU 1 (`taskset`). */
  pinned: boolean;
  taskset: boolean;
  /** The hard open-file limit, which each spawned shell raises its soft limit to. */
  nofile: number;
  /** The soft open-file limit a spawned server or load generator gets (checked in a child). */
  childNofile: number;
  date: string;
}

/** The open-file limit a spawned shell asks for: the hard limit, capped. */
export function nofileTarget(hard: number): number {
  return hard > 0 ? Math.min(hard, 1 << 20) : 65536;
}

/** Reads the machine: CPUs, memory, versions, `taskset`, the open-file limits. */
export async function readMachine(root: string): Promise<Machine> {
  const which = async (bin: string) =>
    (await sh(["sh", "-c", `command -v ${bin}`], root)).code === 0;
  const nproc = navigator.hardwareConcurrency;
  const hasTaskset = await which("taskset");
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const node = await sh(["node", "--version"], root).then((r) => r.out.trim(), () => "absent");
  const hard = Number((await sh(["sh", "-c", "ulimit -Hn"], root)).out.trim()) || 0;
  const child = await sh(
    ["bash", "-c", `ulimit -n ${nofileTarget(hard)} 2>/dev/null; ulimit -n`],
    root,
  );
  return {
    nproc,
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    memGiB: Math.round(Number(/MemTotal:\s*(\d+)/.exec(meminfo)?.[1] ?? 0) / 1048576),
    kernel: (await sh(["uname", "-r"], root)).out.trim(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    node,
    pinned: hasTaskset && nproc >= 2,
    taskset: hasTaskset,
    nofile: hard,
    childNofile: Number(child.out.trim()) || 0,
    date: new Date().toISOString(),
  };
}

/** The soft open-file limit of a running process (`/proc/<pid>/limits`), NaN when unknown. */
export function nofileOf(pid: number): number {
  try {
    const line = Deno.readTextFileSync(`/proc/${pid}/limits`).split("\n")
      .find((l) => l.startsWith("Max open files"));
    return Number(line?.split(/\s+/)[3]);
  } catch {
    return NaN;
  }
}

/**
 * The hub's default `maxConnections` for a soft open-file limit (src/server/options.ts): the
 * limit less a tenth, at least 64 less.
 */
export function hubMaxConnections(nofile: number): number {
  return Math.max(1, Math.min(100_000, nofile - Math.max(64, Math.ceil(nofile / 10))));
}
