/**
 * Reading CPU time, RSS and CPU affinity from /proc (Linux).
 *
 * @module
 */

/** This thread's CPU time in ms (utime + stime of /proc/thread-self/stat; 10 ms resolution). */
export function threadCpuMs(): number {
  return statCpuMs("/proc/thread-self/stat");
}

/** This process's CPU time in ms, every thread (utime + stime of /proc/self/stat). */
export function selfCpuMs(): number {
  return statCpuMs("/proc/self/stat");
}

/** utime + stime of a /proc `stat` file, in ms (they count 10 ms ticks). */
function statCpuMs(path: string): number {
  try {
    const stat = Deno.readTextFileSync(path);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

/** How many CPUs this process may run on (its affinity mask). */
export function allowedCores(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const list = /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? "";
    let n = 0;
    for (const part of list.split(",")) {
      const [a, b] = part.split("-").map(Number);
      n += b === undefined ? 1 : b - a + 1;
    }
    return n || navigator.hardwareConcurrency;
  } catch {
    return navigator.hardwareConcurrency;
  }
}

/** CPU time of every thread of `pid`, in ms (sum of /proc/<pid>/task/<tid>/schedstat, ns). */
export function processCpuMs(pid: number): number {
  let ns = 0;
  try {
    for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/schedstat`).split(" ")[0]);
      } catch { /* thread gone */ }
    }
  } catch {
    return NaN;
  }
  return ns / 1e6;
}

/** VmRSS of `pid` in KiB. */
export function rssKiB(pid: number): number {
  return statusKiB(pid, "VmRSS");
}

/** A field of /proc/<pid>/status given in kB (VmRSS, VmHWM…), or NaN (the process is gone). */
export function statusKiB(pid: number, field: string): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(new RegExp(`${field}:\\s*(\\d+)`).exec(status)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** Busy CPU time of the whole machine in ms: user + nice + system of /proc/stat's `cpu` line. */
export function machineBusyMs(): number {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2]) * 10;
  } catch {
    return NaN;
  }
}
