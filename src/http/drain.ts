import { existsSync } from 'node:fs';
import type { FastifyRequest } from 'fastify';
import { PoolerError } from '../errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * An open-ended response (a live view) that never finishes on its own: shutdown does not wait
     * for it; the connection is closed after the grace period and the client reconnects elsewhere.
     */
    longLived?: boolean;
  }
}

/**
 * Draining is sticky: once started (SIGTERM, the `drain` command or the marker file) readiness stays
 * 503 and new gateway requests and long-lived sessions are refused. The HTTP requests still being
 * answered are counted so that shutdown keeps listening (readiness visible, streams finishing) until
 * they are done or the drain budget runs out.
 */
export class DrainState {
  #draining = false;
  #markerPath: string | null;
  #inFlight = 0;
  #idleWaiters = new Set<() => void>();

  constructor(markerPath: string | null) {
    this.#markerPath = markerPath;
  }

  start(): void {
    this.#draining = true;
  }

  get draining(): boolean {
    if (!this.#draining && this.#markerPath && existsSync(this.#markerPath)) this.#draining = true;
    return this.#draining;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  requestStarted(): void {
    this.#inFlight += 1;
  }

  requestEnded(): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    if (this.#inFlight === 0) for (const wake of [...this.#idleWaiters]) wake();
  }

  /** True once no request is in flight; false when `timeoutMs` passes first. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (idle: boolean) => {
        clearTimeout(timer);
        this.#idleWaiters.delete(wake);
        resolve(idle);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#idleWaiters.add(wake);
    });
  }
}

/**
 * An onRequest hook for gateway routes: while draining, a new request gets 503 at once (before any
 * authentication or upstream work) with `Retry-After`, and its connection is closed so the client's
 * retry opens a new one, which the load balancer sends to a ready replica.
 */
export function refuseWhileDraining(drain: DrainState) {
  return async (_request: FastifyRequest) => {
    if (!drain.draining) return;
    throw new PoolerError('service_unavailable', 'this gateway replica is draining for shutdown; retry the request', { headers: { 'retry-after': '1', connection: 'close' } });
  };
}
