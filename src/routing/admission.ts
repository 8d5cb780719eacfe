import { PoolerError } from '../errors.ts';

export type RouteClass = 'proxy_http' | 'proxy_stream' | 'proxy_compact' | 'proxy_websocket' | 'proxy_control' | 'file_upload' | 'audio_transcription' | 'admin_browser' | 'mcp';
export type BulkheadLimits = { max_concurrency: number; queue_limit: number; queue_timeout_ms: number };

export const DEFAULT_ADMISSION_LIMITS: Record<RouteClass, BulkheadLimits> = {
  proxy_http: { max_concurrency: 32, queue_limit: 128, queue_timeout_ms: 10_000 },
  proxy_control: { max_concurrency: 8, queue_limit: 16, queue_timeout_ms: 5_000 },
  // Streams mostly wait on the upstream; the performance budget asks for >= 2,000 open at once per process.
  proxy_stream: { max_concurrency: 2048, queue_limit: 512, queue_timeout_ms: 10_000 },
  proxy_websocket: { max_concurrency: 2048, queue_limit: 512, queue_timeout_ms: 10_000 },
  proxy_compact: { max_concurrency: 8, queue_limit: 32, queue_timeout_ms: 10_000 },
  file_upload: { max_concurrency: 4, queue_limit: 8, queue_timeout_ms: 5_000 },
  audio_transcription: { max_concurrency: 4, queue_limit: 8, queue_timeout_ms: 5_000 },
  admin_browser: { max_concurrency: 8, queue_limit: 16, queue_timeout_ms: 5_000 },
  mcp: { max_concurrency: 4, queue_limit: 8, queue_timeout_ms: 5_000 },
};

export type AdmissionOutcome = 'accepted' | 'enqueued' | 'dequeued' | 'rejected' | 'timeout';

export function overloaded(): PoolerError {
  return new PoolerError('server_is_overloaded', 'gateway route class is temporarily overloaded');
}

type Waiter = { resolve: (release: () => void) => void; reject: (error: Error) => void; timer: NodeJS.Timeout; enqueuedAt: number };

/**
 * One bulkhead per route class, per process: at most `max_concurrency` requests run; up to
 * `queue_limit` wait in FIFO order for `queue_timeout_ms`; beyond that a 503 costs no upstream work.
 * The lease is held for the whole request, streams included.
 */
export class Bulkhead {
  readonly limits: BulkheadLimits;
  #running = 0;
  #queue: Waiter[] = [];
  /** `waitedMs` comes with `dequeued` and `timeout`: how long the request sat in the queue. */
  #onOutcome: (outcome: AdmissionOutcome, waitedMs?: number) => void;

  constructor(limits: BulkheadLimits, onOutcome: (outcome: AdmissionOutcome, waitedMs?: number) => void = () => {}) {
    this.limits = limits;
    this.#onOutcome = onOutcome;
  }

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#queue.length;
  }

  acquire(): Promise<() => void> {
    if (this.#running < this.limits.max_concurrency) {
      this.#running++;
      this.#onOutcome('accepted');
      return Promise.resolve(this.#releaser());
    }
    if (this.#queue.length >= this.limits.queue_limit) {
      this.#onOutcome('rejected');
      return Promise.reject(overloaded());
    }
    this.#onOutcome('enqueued');
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        enqueuedAt: Date.now(),
        timer: setTimeout(() => {
          this.#queue = this.#queue.filter((w) => w !== waiter);
          this.#onOutcome('timeout', Date.now() - waiter.enqueuedAt);
          reject(overloaded());
        }, this.limits.queue_timeout_ms),
      };
      this.#queue.push(waiter);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      if (next) {
        clearTimeout(next.timer);
        this.#onOutcome('dequeued', Date.now() - next.enqueuedAt);
        next.resolve(this.#releaser());
      } else {
        this.#running--;
      }
    };
  }
}

export type Admission = Record<RouteClass, Bulkhead>;

export function createAdmission(overrides: Partial<Record<RouteClass, Partial<BulkheadLimits>>> = {}, onOutcome: (routeClass: RouteClass, outcome: AdmissionOutcome, waitedMs?: number) => void = () => {}): Admission {
  const entries = (Object.keys(DEFAULT_ADMISSION_LIMITS) as RouteClass[]).map((routeClass) => [
    routeClass,
    new Bulkhead({ ...DEFAULT_ADMISSION_LIMITS[routeClass], ...overrides[routeClass] }, (outcome, waitedMs) => onOutcome(routeClass, outcome, waitedMs)),
  ]);
  return Object.fromEntries(entries) as Admission;
}
