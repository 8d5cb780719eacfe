/**
 * Refuses a signed internal request presented twice (routing spec B6). A signature is valid for the
 * clock skew window either side of its timestamp, so it is remembered until then; after that the
 * skew check refuses it anyway. Bounded: past `maxEntries` live signatures new ones are refused
 * (fail closed) rather than older ones forgotten, which would reopen their replay window. Only
 * requests whose signature verified reach this, so only a holder of the key can fill it.
 */
export class ReplayGuard {
  readonly #windowMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** signature → when it stops being valid (ms). */
  readonly #seen = new Map<string, number>();

  constructor(options: { windowMs: number; maxEntries?: number; now?: () => number }) {
    this.#windowMs = options.windowMs;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** True the first time `signature` (made at `timestamp`) is seen; false for a repeat, or when full. */
  admit(signature: string, timestamp: number): boolean {
    const now = this.#now();
    const known = this.#seen.get(signature);
    if (known !== undefined && known >= now) return false;
    this.#prune(now);
    if (this.#seen.size >= this.#maxEntries) return false;
    this.#seen.delete(signature);
    this.#seen.set(signature, timestamp + this.#windowMs);
    return true;
  }

  /**
   * Entries arrive roughly in timestamp order: expired ones at the front go on every call, and a
   * full sweep runs only when the bound is reached.
   */
  #prune(now: number): void {
    for (const [signature, until] of this.#seen) {
      if (until >= now) break;
      this.#seen.delete(signature);
    }
    if (this.#seen.size < this.#maxEntries) return;
    for (const [signature, until] of this.#seen) if (until < now) this.#seen.delete(signature);
  }
}
