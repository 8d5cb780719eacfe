import { digestMatches, parsePresentedKey } from '../crypto/index.ts';
import type { Db, Notifier } from '../db/index.ts';
import { PoolerError, type PoolerCode } from '../errors.ts';
import { modelPolicyOf, type ModelPolicy } from './model-policy.ts';
import { API_KEY_CHANNEL } from './service.ts';

/** What the hot path needs to know about an authenticated key. */
export type AuthenticatedKey = {
  id: string;
  prefix: string;
  poolId: string;
  poolSlug: string;
  v1Enabled: boolean;
  allowedModels: string[] | null;
  /**
   * Enforced model, reasoning policy and service tier, applied per request by the gateway. Always
   * set by authenticate(); optional only for keys built by hand (tests, older peers): absent = open.
   */
  policy?: ModelPolicy;
};

type CacheEntry = {
  loadedAt: number;
  row: {
    id: string;
    prefix: string;
    hash: Buffer;
    status: string;
    expiresAt: number | null;
    poolId: string;
    poolSlug: string;
    poolActive: boolean;
    v1Enabled: boolean;
    allowedModels: string[] | null;
    policy: ModelPolicy;
  } | null;
};

const POSITIVE_TTL_MS = 60_000;
// Unknown prefixes are remembered briefly so a flood of bad keys costs no database round trips.
const NEGATIVE_TTL_MS = 5_000;
const MAX_ENTRIES = 50_000;

export type KeySurface = 'backend' | 'v1';

/**
 * Pool API key lookup from memory. Filled from Postgres on a miss; every change to a key publishes
 * its prefix on LISTEN/NOTIFY and each process drops that entry, with a TTL as a safety net.
 */
export class ApiKeyCache {
  #db: Db;
  #now: () => number;
  #entries = new Map<string, CacheEntry>();
  /** Loads under way, each with the generation it started in (see #forget). */
  #inflight = new Map<string, { generation: number; promise: Promise<CacheEntry> }>();
  #generation = 0;
  #touched = new Map<string, number>();

  constructor(db: Db, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  async listen(notifier: Notifier): Promise<void> {
    await notifier.subscribe(API_KEY_CHANNEL, (prefix) => this.#forget(prefix));
  }

  invalidate(prefix: string): void {
    this.#forget(prefix);
  }

  /**
   * Drops a prefix (or every one, `*`) and any load of it already under way: that load read the
   * row before the change, so it must not be cached, and the next caller starts a fresh one.
   */
  #forget(prefix: string): void {
    if (prefix === '*') {
      this.#entries.clear();
      this.#inflight.clear();
    } else {
      this.#entries.delete(prefix);
      this.#inflight.delete(prefix);
    }
  }

  /** Authenticates an `Authorization` header value or throws the spec's 401. */
  async authenticate(authorization: string | undefined, surface: KeySurface): Promise<AuthenticatedKey> {
    const fail = (code: PoolerCode) => new PoolerError(surface === 'v1' && code !== 'api_key_missing' && code !== 'api_key_expired' ? 'api_key_disabled' : code);
    // Only the literal, case-sensitive `Bearer ` scheme is accepted.
    if (!authorization || !authorization.startsWith('Bearer ')) throw fail('api_key_missing');
    const presented = parsePresentedKey(authorization.slice(7));
    if (!presented) throw fail('api_key_missing');
    const entry = await this.#lookup(presented.prefix);
    const row = entry.row;
    if (!row || !row.poolActive || !digestMatches(presented.secret, row.hash)) throw fail('api_key_missing');
    if (row.status === 'revoked') throw fail('api_key_revoked');
    if (row.status === 'paused') throw fail('api_key_paused');
    if (row.status !== 'active') throw fail('api_key_inactive');
    if (row.expiresAt !== null && row.expiresAt <= this.#now()) throw fail('api_key_expired');
    this.#touch(row.id);
    return { id: row.id, prefix: row.prefix, poolId: row.poolId, poolSlug: row.poolSlug, v1Enabled: row.v1Enabled, allowedModels: row.allowedModels, policy: row.policy };
  }

  async #lookup(prefix: string): Promise<CacheEntry> {
    const cached = this.#entries.get(prefix);
    const now = this.#now();
    if (cached && now - cached.loadedAt < (cached.row ? POSITIVE_TTL_MS : NEGATIVE_TTL_MS)) return cached;
    const pending = this.#inflight.get(prefix);
    if (pending) return pending.promise;
    const generation = ++this.#generation;
    const promise = this.#load(prefix, generation).finally(() => {
      if (this.#inflight.get(prefix)?.generation === generation) this.#inflight.delete(prefix);
    });
    this.#inflight.set(prefix, { generation, promise });
    return promise;
  }

  /** Still the prefix's current load: no invalidation arrived since it started. */
  #current(prefix: string, generation: number): boolean {
    return this.#inflight.get(prefix)?.generation === generation;
  }

  async #load(prefix: string, generation: number): Promise<CacheEntry> {
    const row = await this.#db
      .selectFrom('api_keys')
      .innerJoin('pools', 'pools.id', 'api_keys.pool_id')
      .leftJoin('pool_routing_settings', 'pool_routing_settings.pool_id', 'pools.id')
      .select([
        'api_keys.id',
        'api_keys.key_prefix',
        'api_keys.key_hash',
        'api_keys.status',
        'api_keys.expires_at',
        'api_keys.allowed_model_identifiers',
        'api_keys.enforced_model_identifier',
        'api_keys.maximum_reasoning_effort',
        'api_keys.enforced_reasoning_effort',
        'api_keys.enforced_service_tier',
        'pools.id as pool_id',
        'pools.slug as pool_slug',
        'pools.status as pool_status',
        'pool_routing_settings.v1_compatibility_enabled',
      ])
      .where('api_keys.key_prefix', '=', prefix)
      .executeTakeFirst();
    const entry: CacheEntry = {
      loadedAt: this.#now(),
      row: row
        ? {
            id: row.id,
            prefix: row.key_prefix,
            hash: row.key_hash,
            status: row.status,
            expiresAt: row.expires_at?.getTime() ?? null,
            poolId: row.pool_id,
            poolSlug: row.pool_slug,
            poolActive: row.pool_status === 'active',
            v1Enabled: row.v1_compatibility_enabled ?? true,
            // Lowercased: requests are matched case-insensitively.
            allowedModels: modelPolicyOf(row).allowedModels,
            policy: modelPolicyOf(row),
          }
        : null,
    };
    // Its callers still get this answer, but a load overtaken by an invalidation is not remembered.
    if (!this.#current(prefix, generation)) return entry;
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    this.#entries.set(prefix, entry);
    return entry;
  }

  /** `last_used_at` is bumped at most once a minute per key per process, off the hot path. */
  #touch(id: string): void {
    const now = this.#now();
    const last = this.#touched.get(id) ?? 0;
    if (now - last < 60_000) return;
    this.#touched.set(id, now);
    void this.#db
      .updateTable('api_keys')
      .set({ last_used_at: new Date(now) })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', new Date(now))]))
      .execute()
      .catch(() => {});
  }
}
