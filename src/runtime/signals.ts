export type StopRequest = { reason: string; exitCode: number };

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
/**
 * `npm start` forwards the SIGINT of a Ctrl-C that the terminal already delivered to the whole
 * process group: one keypress arrives twice within milliseconds. Repeats this close together count
 * as one.
 */
const DUPLICATE_WINDOW_MS = 1_000;

/**
 * The first SIGTERM/SIGINT asks for a graceful stop; a second one (an impatient operator, or an
 * orchestrator past its grace period) runs `onForce` and exits at once.
 */
export class StopSignals {
  readonly requested: Promise<StopRequest>;
  #resolve!: (request: StopRequest) => void;
  #stopping = false;
  #firstSignalAt: number | null = null;
  #onForce: (signal: string) => void;
  #handler = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (this.#firstSignalAt !== null && now - this.#firstSignalAt < DUPLICATE_WINDOW_MS) return;
    if (this.#stopping) {
      this.#onForce(signal);
      process.exit(1);
    }
    this.#firstSignalAt = now;
    this.request({ reason: signal, exitCode: 0 });
  };

  constructor(onForce: (signal: string) => void) {
    this.#onForce = onForce;
    this.requested = new Promise((resolve) => (this.#resolve = resolve));
    for (const signal of SIGNALS) process.on(signal, this.#handler);
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Also used for fatal errors: the process stops the same orderly way, with their exit code. */
  request(request: StopRequest): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#resolve(request);
  }

  dispose(): void {
    for (const signal of SIGNALS) process.off(signal, this.#handler);
  }
}
