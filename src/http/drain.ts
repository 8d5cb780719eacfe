import { existsSync } from 'node:fs';

/**
 * Draining is sticky: once started (SIGTERM, the `drain` command or the marker file) readiness stays
 * 503 and new long-lived sessions are refused.
 */
export class DrainState {
  #draining = false;
  #markerPath: string | null;

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
}
