/**
 * `keepServing`: `Deno.serve` that survives running out of file descriptors.
 *
 * When `accept()` fails with "Too many open files", `Deno.serve` stops
 * accepting for good and its `finished` promise rejects — unhandled, that
 * ends the process (see `docs/deno-limits.md`). The hub's `maxConnections`
 * keeps WebSockets below the limit, but plain TCP connections that never
 * send a request (which no handler ever sees) can still use up every
 * descriptor. `keepServing` starts a new listener on the same port after a
 * back-off, until it is shut down.
 *
 * @module
 */

/** Options of {@linkcode keepServing}: those of `Deno.serve` over TCP, and the back-off. */
export interface KeepServingOptions {
  /** The port to listen on; 0 picks a free one (kept across restarts). Default 8000. */
  port?: number;
  /** The address to listen on. Default `"0.0.0.0"`. */
  hostname?: string;
  /** Called once per listener start with its address. Default: nothing. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Called when the handler throws; its response is sent. As in `Deno.serve`. */
  onError?: (error: unknown) => Response | Promise<Response>;
  /** Let several processes listen on one port (Linux). As in `Deno.serve`. */
  reusePort?: boolean;
  /** Called when the listener failed and will be restarted. Default: nothing. */
  onRestart?: (error: unknown, delay: number) => void;
  /** The first restart delay, doubling to `maxRestartDelay`. Default 100 ms. */
  restartDelay?: number;
  /** The largest restart delay. Default 5,000 ms. */
  maxRestartDelay?: number;
}

/** A server started by {@linkcode keepServing}. */
export interface KeptServer {
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  /** How many times the listener was restarted after a failure. */
  readonly restarts: number;
  /** Resolves once the server has been shut down. */
  readonly finished: Promise<void>;
  /** Stops restarting and shuts the current listener down gracefully. */
  shutdown(): Promise<void>;
}

/**
 * Serves `handler` like `Deno.serve`, and starts a new listener on the same
 * port after a back-off whenever the current one fails (descriptors
 * exhausted), so the process keeps accepting once descriptors are free again.
 *
 * @example Serve a hub that outlives a flood of idle TCP connections
 * ```ts
 * import { Hub, keepServing } from "@wshub/hub";
 *
 * const hub = new Hub();
 * const server = keepServing({ port: 0, hostname: "127.0.0.1" }, (req) => hub.upgrade(req));
 * console.log(`listening on ${server.addr.port}`);
 * await hub.close();
 * await server.shutdown();
 * ```
 */
export function keepServing(options: KeepServingOptions, handler: Deno.ServeHandler): KeptServer {
  const initialDelay = options.restartDelay ?? 100;
  const maxDelay = options.maxRestartDelay ?? 5_000;
  let delay = initialDelay;
  let restarts = 0;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const { promise: finished, resolve: finish } = Promise.withResolvers<void>();

  const start = (port: number): Deno.HttpServer<Deno.NetAddr> => {
    const server = Deno.serve({
      port,
      hostname: options.hostname,
      reusePort: options.reusePort,
      onError: options.onError,
      onListen: options.onListen ?? (() => {}),
    }, handler);
    server.finished.then(
      () => {
        if (stopped) finish();
      },
      (error) => {
        if (stopped) return finish();
        options.onRestart?.(error, delay);
        retry(error);
      },
    );
    return server;
  };

  const retry = (error: unknown): void => {
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped) return finish();
      try {
        current = start(addr.port);
        restarts++;
        delay = initialDelay;
      } catch (failure) {
        delay = Math.min(maxDelay, delay * 2);
        options.onRestart?.(failure ?? error, delay);
        retry(failure);
      }
    }, delay);
  };

  let current = start(options.port ?? 8000);
  const addr = current.addr;

  return {
    addr,
    get restarts() {
      return restarts;
    },
    finished,
    async shutdown() {
      if (!stopped) {
        stopped = true;
        clearTimeout(timer);
        if (timer !== undefined) {
          timer = undefined;
          finish();
        }
        await current.shutdown().catch(() => {});
      }
      await finished;
    },
  };
}
