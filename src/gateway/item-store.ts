import type { JsonObject } from './translate/index.ts';

/**
 * Output items the gateway relayed to `/v1/responses` clients, kept so a later request can replay
 * them by `{"type":"item_reference","id":…}` (the Vercel AI SDK does with its default
 * `store: true`). The ChatGPT upstream is always called with `store: false` and cannot resolve a
 * reference itself. Keyed by Pool API key and item id, so one key never sees another's items.
 *
 * Bounded in time (TTL) and in memory: the whole store (oldest evicted first), each key (a quarter
 * of the budget, its own oldest evicted first, so one busy key cannot push everyone else's items
 * out) and each item (bigger ones are not kept; a later reference to one gets
 * `item_reference_not_found`, as for any item the store does not hold). Per process, in memory
 * only: items hold model output (and encrypted reasoning), so they are never logged or persisted.
 */
export type ItemStoreOptions = {
  /** How long an item stays replayable. */
  ttlMs?: number;
  /** Total memory budget in bytes (see `itemSize`); 0 keeps nothing. */
  maxBytes?: number;
  now?: () => number;
};

export const ITEM_TTL_MS = 60 * 60 * 1000;
export const ITEM_STORE_MAX_BYTES = 64 * 1024 * 1024;
/** Items bigger than this are not kept: replays by reference are of reasoning and messages, not blobs. */
export const ITEM_MAX_BYTES = 1024 * 1024;
/** The share of the budget one Pool API key may hold. */
export const KEY_SHARE = 1 / 4;
/**
 * Never kept: an image generation call carries its whole base64 image in `result`, and clients do
 * not replay those by reference in practice.
 */
const NEVER_KEPT = new Set(['image_generation_call']);

/**
 * Memory an item's JSON takes: V8 keeps a string with any non-Latin-1 character as UTF-16, so two
 * bytes per code unit is the honest upper bound (and what model text in most languages costs).
 */
export const itemSize = (json: string): number => json.length * 2;

type Entry = { apiKeyId: string; json: string; bytes: number; expiresAt: number };
/** One key's items, in age order, and their total size. */
type KeyShare = { bytes: number; entries: Set<string> };

export class ReplayedItemStore {
  readonly #ttlMs: number;
  readonly #maxBytes: number;
  readonly #maxKeyBytes: number;
  readonly #maxItemBytes: number;
  readonly #now: () => number;
  /** Insertion order is age order (one TTL for all), so the oldest and the first to expire lead. */
  readonly #entries = new Map<string, Entry>();
  readonly #keys = new Map<string, KeyShare>();
  #bytes = 0;

  constructor(options: ItemStoreOptions = {}) {
    this.#ttlMs = options.ttlMs ?? ITEM_TTL_MS;
    this.#maxBytes = options.maxBytes ?? ITEM_STORE_MAX_BYTES;
    this.#maxKeyBytes = Math.floor(this.#maxBytes * KEY_SHARE);
    // An item bigger than its key's share would only evict the key's other items and then itself.
    this.#maxItemBytes = Math.min(ITEM_MAX_BYTES, this.#maxKeyBytes);
    this.#now = options.now ?? Date.now;
  }

  /** False when configured with no budget: nothing is kept and every reference misses. */
  get enabled(): boolean {
    return this.#maxKeyBytes > 0;
  }

  /** Keeps an output item (it needs a string `id`); a later copy of the same id replaces it. */
  remember(apiKeyId: string, item: JsonObject): void {
    if (!this.enabled || typeof item.id !== 'string' || item.id === '') return;
    const key = entryKey(apiKeyId, item.id);
    this.#delete(key);
    if (typeof item.type === 'string' && NEVER_KEPT.has(item.type)) return;
    const json = JSON.stringify(item);
    const bytes = itemSize(json);
    if (bytes > this.#maxItemBytes) return;
    const now = this.#now();
    this.#dropExpired(now);
    this.#entries.set(key, { apiKeyId, json, bytes, expiresAt: now + this.#ttlMs });
    this.#bytes += bytes;
    const share = this.#shareOf(apiKeyId);
    share.entries.add(key);
    share.bytes += bytes;
    // The key's own oldest go first while it is over its share; only then the store's oldest.
    for (const oldest of share.entries) {
      if (share.bytes <= this.#maxKeyBytes) break;
      this.#delete(oldest);
    }
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

  /** Items and bytes (see `itemSize`) currently held (metrics, tests). */
  get size(): { items: number; bytes: number } {
    return { items: this.#entries.size, bytes: this.#bytes };
  }

  /** Bytes one key currently holds (tests). */
  bytesOf(apiKeyId: string): number {
    return this.#keys.get(apiKeyId)?.bytes ?? 0;
  }

  #shareOf(apiKeyId: string): KeyShare {
    let share = this.#keys.get(apiKeyId);
    if (!share) {
      share = { bytes: 0, entries: new Set() };
      this.#keys.set(apiKeyId, share);
    }
    return share;
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
    const share = this.#keys.get(entry.apiKeyId);
    if (!share) return;
    share.entries.delete(key);
    share.bytes -= entry.bytes;
    if (share.entries.size === 0) this.#keys.delete(entry.apiKeyId);
  }
}

// NUL cannot occur in a key id, so the pair is unambiguous.
const entryKey = (apiKeyId: string, itemId: string): string => `${apiKeyId}\u0000${itemId}`;
