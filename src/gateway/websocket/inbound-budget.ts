import { MAX_PROCESS_QUEUED_BYTES, MAX_QUEUED_BYTES, MAX_QUEUED_FRAMES } from './protocol.ts';

/** The reading side of a socket: ws's `pause()`/`resume()` stop and restart reading its TCP stream. */
export type ReadFlow = { pause(): void; resume(): void };

/**
 * Bytes queued by every connection of the process (client sockets and internal owner sockets),
 * one per process, passed to each InboundBudget. Once they reach the bound every connection pauses
 * reading until they drop below it again: many connections each within their own bound cannot add
 * up to more than the process can hold.
 */
export class ProcessInboundBudget {
  #maxBytes: number;
  #bytes = 0;
  #watchers = new Set<() => void>();

  constructor(maxBytes: number = MAX_PROCESS_QUEUED_BYTES) {
    this.#maxBytes = maxBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get exhausted(): boolean {
    return this.#bytes >= this.#maxBytes;
  }

  /** Bytes entered (positive) or left (negative) a queue; watchers hear when the bound is crossed. */
  change(bytes: number): void {
    const before = this.exhausted;
    this.#bytes += bytes;
    if (this.exhausted !== before) for (const watcher of [...this.#watchers]) watcher();
  }

  /** Calls `watcher` whenever the process crosses its bound; answers the unsubscribe. */
  watch(watcher: () => void): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }
}

/**
 * Counts one connection's client frames that arrived but are not yet taken by the session's turn
 * loop (or sent on to the owner). At MAX_QUEUED_FRAMES frames or MAX_QUEUED_BYTES bytes, or while
 * the process as a whole is at its bound, reading pauses; it resumes once all three are below their
 * bounds again. A frame is always taken whole (up to the 64 MiB frame limit) and a few frames
 * already read from the socket may still arrive after the pause, so the bound is this plus one
 * read's worth.
 */
export class InboundBudget {
  #flow: ReadFlow;
  #shared: ProcessInboundBudget;
  #maxFrames: number;
  #maxBytes: number;
  #frames = 0;
  #bytes = 0;
  #paused = false;
  #closed = false;
  #unwatch: () => void;

  constructor(flow: ReadFlow, shared: ProcessInboundBudget, limits: { frames: number; bytes: number } = { frames: MAX_QUEUED_FRAMES, bytes: MAX_QUEUED_BYTES }) {
    this.#flow = flow;
    this.#shared = shared;
    this.#maxFrames = limits.frames;
    this.#maxBytes = limits.bytes;
    this.#unwatch = shared.watch(() => this.#update());
    this.#update();
  }

  get paused(): boolean {
    return this.#paused;
  }

  get queued(): { frames: number; bytes: number } {
    return { frames: this.#frames, bytes: this.#bytes };
  }

  /** A frame arrived; answers the release to call (once) when it leaves the queue. */
  admit(bytes: number): () => void {
    this.#frames++;
    this.#bytes += bytes;
    this.#shared.change(bytes);
    this.#update();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#frames--;
      this.#bytes -= bytes;
      this.#shared.change(-bytes);
      this.#update();
    };
  }

  /** The socket closed: the process stops telling this connection about its bound. Frames still queued are released as usual. */
  close(): void {
    this.#closed = true;
    this.#unwatch();
  }

  #update(): void {
    if (this.#closed) return;
    const full = this.#frames >= this.#maxFrames || this.#bytes >= this.#maxBytes || this.#shared.exhausted;
    if (full === this.#paused) return;
    this.#paused = full;
    if (full) this.#flow.pause();
    else this.#flow.resume();
  }
}

/** Bytes of one received ws message (a Buffer unless the socket was told otherwise). */
export function frameBytes(data: Buffer | ArrayBuffer | Buffer[]): number {
  return Array.isArray(data) ? data.reduce((total, part) => total + part.byteLength, 0) : data.byteLength;
}
