/**
 * The tiny line protocol between the benchmark driver and its child processes.
 *
 * A child prints one JSON line `{"type":"ready",...}` on stdout once it serves, then answers each
 * JSON line it reads on stdin (`{"id":1,"op":"mem"}`) with `{"type":"reply","id":1,...}`. When its
 * stdin closes (the driver stopped or died) it shuts down cleanly and exits on its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

export type Json = Record<string, unknown>;

export type ProcessSample = {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** microseconds of CPU (user + system) the process used since it started */
  cpuMicros: number;
  /** the system (kernel) part of cpuMicros */
  systemMicros: number;
  /** event-loop utilisation since the previous sample (0..1) */
  elu: number;
};

// ---------------------------------------------------------------- child side

/** Serves control requests on stdin/stdout; `stop` runs once, on the `stop` op, stdin end or a signal. */
export function serveControl(handlers: Record<string, (request: Json) => Json | Promise<Json>>, stop: () => Promise<void>): void {
  let stopping: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    stopping ??= stop()
      .catch((error: unknown) => {
        process.stderr.write(`bench child: shutdown failed: ${String(error)}\n`);
      })
      .finally(() => process.exit(0));
    return stopping;
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    let request: Json;
    try {
      request = JSON.parse(line) as Json;
    } catch {
      return;
    }
    const id = request.id;
    if (request.op === 'stop') {
      send({ type: 'reply', id, ok: true });
      void shutdown();
      return;
    }
    const handler = handlers[String(request.op)];
    Promise.resolve()
      .then(() => (handler ? handler(request) : { error: `unknown op ${String(request.op)}` }))
      .then(
        (result) => send({ type: 'reply', id, ...result }),
        (error: unknown) => send({ type: 'reply', id, error: String(error) }),
      );
  });
  lines.on('close', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
}

export function send(message: Json): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

let lastElu = performance.eventLoopUtilization();
let loopDelay: ReturnType<typeof monitorEventLoopDelay> | null = null;

/** Event-loop lateness since the previous call (a 5 ms timer's delay past its due time), for the `loop-delay` op; starts the monitor on first use. */
export function loopDelaySample(): Json {
  if (!loopDelay) {
    loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    return { started: true };
  }
  // The histogram records whole timer intervals: subtract the 5 ms interval to get how late the loop was.
  const toMs = (ns: number) => Math.max(0, ns / 1e6 - 5);
  const result = { count: loopDelay.count, p50: toMs(loopDelay.percentile(50)), p99: toMs(loopDelay.percentile(99)), max: toMs(loopDelay.max), mean: toMs(loopDelay.mean) };
  loopDelay.reset();
  return result;
}

/** Memory and CPU of this process, for the `mem` op; `gc` first collects garbage when --expose-gc is on. */
export function processSample(request: Json = {}): ProcessSample {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (request.gc === true && gc) gc();
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization(lastElu);
  lastElu = performance.eventLoopUtilization();
  return {
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    cpuMicros: cpu.user + cpu.system,
    systemMicros: cpu.system,
    elu: elu.utilization,
  };
}

// ---------------------------------------------------------------- driver side

export class Child {
  readonly name: string;
  readonly process: ChildProcess;
  ready: Json = {};
  #nextId = 1;
  #pending = new Map<number, { resolve: (value: Json) => void; reject: (error: Error) => void }>();
  #exited: Promise<number | null>;

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.process = child;
    this.#exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    void this.#exited.then((code) => {
      for (const pending of this.#pending.values()) pending.reject(new Error(`${name} exited (${String(code)})`));
      this.#pending.clear();
    });
  }

  /** Spawns `node script args…` and waits for its ready line (or its early death, or the timeout). */
  static async start(name: string, script: string, args: string[], options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[]; timeoutMs?: number } = {}): Promise<Child> {
    const proc = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, ...options.env },
    });
    const child = new Child(name, proc);
    const ready = new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not become ready in time`)), options.timeoutMs ?? 60_000);
      const lines = createInterface({ input: proc.stdout! });
      lines.on('line', (line) => {
        let message: Json;
        try {
          message = JSON.parse(line) as Json;
        } catch {
          process.stderr.write(`[${name}] ${line}\n`);
          return;
        }
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve(message);
        } else if (message.type === 'fatal') {
          clearTimeout(timer);
          reject(new Error(`${name}: ${String(message.error)}`));
        } else if (message.type === 'reply') {
          const pending = child.#pending.get(Number(message.id));
          child.#pending.delete(Number(message.id));
          pending?.resolve(message);
        }
      });
      void child.#exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited before it was ready (exit ${String(code)})`));
      });
    });
    try {
      child.ready = await ready;
    } catch (error) {
      await child.stop(2_000);
      throw error;
    }
    return child;
  }

  call(op: string, extra: Json = {}, timeoutMs = 30_000): Promise<Json> {
    const id = this.#nextId++;
    return new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: ${op} timed out`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          if (typeof value.error === 'string') reject(new Error(`${this.name}: ${value.error}`));
          else resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.process.stdin!.write(`${JSON.stringify({ id, op, ...extra })}\n`);
    });
  }

  async sample(options: { gc?: boolean } = {}): Promise<ProcessSample> {
    return (await this.call('mem', options.gc ? { gc: true } : {})) as unknown as ProcessSample;
  }

  /** Asks the child to stop (closing stdin), then SIGKILLs it by pid if it does not exit in time. */
  async stop(graceMs = 20_000): Promise<number | null> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return this.process.exitCode;
    this.process.stdin?.end();
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    const code = await this.#exited;
    clearTimeout(timer);
    return code;
  }
}
