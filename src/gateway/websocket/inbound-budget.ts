import { MAX_QUEUED_BYTES, MAX_QUEUED_FRAMES } from './protocol.ts';

/** The reading side of a socket: ws's `pause()`/`resume()` stop and restart reading its TCP stream. */
export type ReadFlow = { pause(): void; resume(): void };

/**
 * Counts one connection's client frames that arrived but are not yet taken by the session's turn
 * loop (or sent on to the owner). At MAX_QUEUED_FRAMES frames or MAX_QUEUED_BYTES bytes reading
 * pauses; it resumes once the queue is below both again. A few frames already read from the
 * socket may still arrive after the pause, so the bound is this plus one read's worth.
 */
export class InboundBudget {
  #flow: ReadFlow;
  #maxFrames: number;
  #maxBytes: number;
  #frames = 0;
  #bytes = 0;
  #paused = false;

  constructor(flow: ReadFlow, limits: { frames: number; bytes: number } = { frames: MAX_QUEUED_FRAMES, bytes: MAX_QUEUED_BYTES }) {
    this.#flow = flow;
    this.#maxFrames = limits.frames;
    this.#maxBytes = limits.bytes;
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
    if (!this.#paused && (this.#frames >= this.#maxFrames || this.#bytes >= this.#maxBytes)) {
      this.#paused = true;
      this.#flow.pause();
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#frames--;
      this.#bytes -= bytes;
      if (this.#paused && this.#frames < this.#maxFrames && this.#bytes < this.#maxBytes) {
        this.#paused = false;
        this.#flow.resume();
      }
    };
  }
}

/** Bytes of one received ws message (a Buffer unless the socket was told otherwise). */
export function frameBytes(data: Buffer | ArrayBuffer | Buffer[]): number {
  return Array.isArray(data) ? data.reduce((total, part) => total + part.byteLength, 0) : data.byteLength;
}
