import type { JsonObject } from './translate/index.ts';

/**
 * Output items the gateway relayed to `/v1/responses` clients, kept so a later request can replay
 * them by `{"type":"item_reference","id":…}` (the Vercel AI SDK does with its default
 * `store: true`). The ChatGPT upstream is always called with `store: false` and cannot resolve a
 * reference itself. Keyed by Pool API key and item id, so one key never sees another's items.
 *
 * Bounded in time (TTL) and in size (JSON bytes, oldest evicted first). Per process, in memory
 * only: items hold model output (and encrypted reasoning), so they are never logged or persisted.
 */
export type ItemStoreOptions = {
  /** How long an item stays replayable. */
  ttlMs?: number;
  /** Total JSON byte length kept; the oldest items go first past it. */
  maxBytes?: number;
  now?: () => number;
};

export const ITEM_TTL_MS = 60 * 60 * 1000;
export const ITEM_STORE_MAX_BYTES = 64 * 1024 * 1024;

type Entry = { json: string; bytes: number; expiresAt: number };

export class ReplayedItemStore {
  readonly #ttlMs: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  /** Insertion order is age order (one TTL for all), so the oldest and the first to expire lead. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(options: ItemStoreOptions = {}) {
    this.#ttlMs = options.ttlMs ?? ITEM_TTL_MS;
    this.#maxBytes = options.maxBytes ?? ITEM_STORE_MAX_BYTES;
    this.#now = options.now ?? Date.now;
  }

  /** Keeps an output item (it needs a string `id`); a later copy of the same id replaces it. */
  remember(apiKeyId: string, item: JsonObject): void {
    if (typeof item.id !== 'string' || item.id === '') return;
    const json = JSON.stringify(item);
    const bytes = Buffer.byteLength(json);
    const key = entryKey(apiKeyId, item.id);
    this.#delete(key);
    // An item bigger than the whole budget would only evict everything else.
    if (bytes > this.#maxBytes) return;
    const now = this.#now();
    this.#dropExpired(now);
    this.#entries.set(key, { json, bytes, expiresAt: now + this.#ttlMs });
    this.#bytes += bytes;
    for (const [oldest] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#delete(oldest);
    }
  }

  /** A fresh copy of the item the key's earlier answer carried, or undefined (unknown or expired). */
  lookup(apiKeyId: string, itemId: string): JsonObject | undefined {
    const key = entryKey(apiKeyId, itemId);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#delete(key);
      return undefined;
    }
    return JSON.parse(entry.json) as JsonObject;
  }

  /** Items and JSON bytes currently held (metrics, tests). */
  get size(): { items: number; bytes: number } {
    return { items: this.#entries.size, bytes: this.#bytes };
  }

  #dropExpired(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#delete(key);
    }
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}

// NUL cannot occur in a key id, so the pair is unambiguous.
const entryKey = (apiKeyId: string, itemId: string): string => `${apiKeyId}\u0000${itemId}`;
