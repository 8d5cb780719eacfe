import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db, Notifier } from '../db/index.ts';
import { ROUTING_CHANNEL } from '../upstreams/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { Candidate } from './candidate.ts';
import { beginAttempt, DEFAULT_CIRCUIT_SETTINGS, isBlocked, recordFailure, recordNeutral, recordSuccess, type Circuit, type CircuitSettings, type Transition } from './circuit-breaker.ts';
import type { RouteClass } from './admission.ts';
import type { RoutingStrategy } from './strategies.ts';

/** Channel carrying circuit transitions between web processes. Payload: JSON {key, circuit}. */
export const CIRCUIT_CHANNEL = 'cxp_circuits';

export type PoolRoutingSettings = {
  strategy: RoutingStrategy;
  ringSize: number;
  stickyHttpSessions: boolean;
  stickyWebsocketSessions: boolean;
  promptCacheAffinity: boolean;
  v1Enabled: boolean;
  imagesEnabled: boolean;
};

const DEFAULT_SETTINGS: PoolRoutingSettings = { strategy: 'bridge_ring', ringSize: 3, stickyHttpSessions: false, stickyWebsocketSessions: true, promptCacheAffinity: true, v1Enabled: true, imagesEnabled: true };
const DEMOTION_MS = 60_000;
/** Channel carrying conversation ownership: `<sha256(id) prefix>:<assignment id>`. */
const OWNER_CHANNEL = 'cxp_owners';
const MAX_OWNERS = 200_000;
// Item ids travel hashed: they are not secrets, but the spec keeps aliases as digests.
const ownerKey = (itemId: string) => createHash('sha256').update(itemId).digest('hex').slice(0, 32);

export type AttemptAdmission = 'normal' | 'probe' | 'blocked';

export type PoolCatalog = {
  /** false until any account of the pool reported its models: then unknown models pass through. */
  fetched: boolean;
  /** exposed id (lowercase) → upstream model id and the stored upstream entry. */
  models: Map<string, { upstreamModelId: string; entry: Record<string, unknown> }>;
};

type PoolEntry = { loadedAt: number; candidates: Candidate[]; catalog: PoolCatalog; settings: PoolRoutingSettings };

const SNAPSHOT_TTL_MS = 10_000;

/**
 * In-process view of each pool's accounts and catalog, refreshed from Postgres on change
 * notifications (and a short TTL as a safety net). Hot-path reads cost no database round trip;
 * local decisions such as a cooldown apply at once and are persisted and broadcast in the background.
 */
export class RoutingState {
  #db: Db;
  #notifier: Notifier;
  #log: Logger;
  #now: () => number;
  #pools = new Map<string, PoolEntry>();
  /** Snapshot loads under way, each with the generation it started in (see #forget). */
  #loading = new Map<string, { generation: number; promise: Promise<PoolEntry> }>();
  #generation = 0;
  #pendingWrites = new Set<Promise<unknown>>();
  #circuits = new Map<string, Circuit>();
  #owners = new Map<string, string>();
  #demotions = new Map<string, number>();
  #metrics: Metrics | undefined;
  #circuitSettings: CircuitSettings;

  constructor(deps: { db: Db; notifier: Notifier; log: Logger; now?: () => number; metrics?: Metrics; circuit?: Partial<CircuitSettings> }) {
    this.#db = deps.db;
    this.#notifier = deps.notifier;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#metrics = deps.metrics;
    this.#circuitSettings = { ...DEFAULT_CIRCUIT_SETTINGS, ...deps.circuit };
  }

  async listen(): Promise<void> {
    await this.#notifier.subscribe(ROUTING_CHANNEL, (poolId) => this.#forget(poolId));
    await this.#notifier.subscribe(OWNER_CHANNEL, (payload) => {
      const split = payload.indexOf(':');
      if (split > 0) this.#setOwner(payload.slice(0, split), payload.slice(split + 1));
    });
    // Another process opened or closed a circuit: adopt its view so a broken account is skipped everywhere.
    await this.#notifier.subscribe(CIRCUIT_CHANNEL, (payload) => {
      try {
        const { key, circuit } = JSON.parse(payload) as { key: string; circuit: Circuit };
        this.#circuits.set(key, circuit);
      } catch {
        this.#log.warn('ignored a malformed circuit notification');
      }
    });
  }

  async settings(poolId: string): Promise<PoolRoutingSettings> {
    return (await this.#entry(poolId)).settings;
  }

  // ---- circuit breaker (scope: account, model, route class; shared by all keys) ----

  static circuitKey(assignmentId: string, model: string, routeClass: RouteClass): string {
    return `${assignmentId}|${model.toLowerCase()}|${routeClass}`;
  }

  isCircuitBlocked(assignmentId: string, model: string, routeClass: RouteClass): boolean {
    return isBlocked(this.#circuits.get(RoutingState.circuitKey(assignmentId, model, routeClass)), this.#now(), this.#circuitSettings);
  }

  /** Before an attempt: normal, a half-open probe, or blocked by an open circuit. */
  beginAttempt(assignmentId: string, model: string, routeClass: RouteClass): AttemptAdmission {
    const key = RoutingState.circuitKey(assignmentId, model, routeClass);
    const admission = beginAttempt(this.#circuits.get(key), this.#now(), this.#circuitSettings);
    if (admission.kind !== 'blocked') this.#setCircuit(key, admission.circuit, admission.transition, routeClass, 'none');
    return admission.kind;
  }

  recordAttempt(assignmentId: string, model: string, routeClass: RouteClass, admission: AttemptAdmission, verdict: 'success' | 'failure' | 'neutral', reasonClass: string): void {
    if (admission === 'blocked') return;
    const key = RoutingState.circuitKey(assignmentId, model, routeClass);
    const current = this.#circuits.get(key);
    const now = this.#now();
    if (verdict === 'neutral') {
      const next = recordNeutral(current, admission, now);
      if (next) this.#circuits.set(key, next);
      return;
    }
    const result = verdict === 'success' ? recordSuccess(current, admission, now, this.#circuitSettings) : recordFailure(current, admission, now, this.#circuitSettings);
    this.#setCircuit(key, result.circuit, result.transition, routeClass, reasonClass);
  }

  #setCircuit(key: string, circuit: Circuit, transition: Transition | null, routeClass: RouteClass, reasonClass: string): void {
    if (circuit.state === 'closed' && circuit.failures === 0 && !transition) this.#circuits.delete(key);
    else this.#circuits.set(key, circuit);
    if (!transition) return;
    this.#metrics?.circuitTransitionCount.inc({ transition, route_class: routeClass, reason_class: reasonClass });
    this.#log.info({ circuit: key.split('|')[0], transition, reason_class: reasonClass }, 'circuit transition');
    // Fire and forget: the circuit is already in effect here; other processes adopt it when it arrives.
    this.#track(this.#notifier.publish(CIRCUIT_CHANNEL, JSON.stringify({ key, circuit }), { awaitLocal: false }));
  }

  // ---- conversation ownership (previous_response_id, encrypted reasoning items) ----

  /** Remembers which account produced a response or reasoning item, in every web process. */
  rememberOwner(itemId: string, assignmentId: string): void {
    const key = ownerKey(itemId);
    if (this.#owners.get(key) === assignmentId) return;
    this.#setOwner(key, assignmentId);
    this.#track(this.#notifier.publish(OWNER_CHANNEL, `${key}:${assignmentId}`, { awaitLocal: false }));
  }

  ownerOf(itemId: string): string | null {
    return this.#owners.get(ownerKey(itemId)) ?? null;
  }

  #setOwner(key: string, assignmentId: string): void {
    // Bounded: the oldest entries go first (a Map iterates in insertion order).
    if (this.#owners.size >= MAX_OWNERS) this.#owners.delete(this.#owners.keys().next().value!);
    this.#owners.delete(key);
    this.#owners.set(key, assignmentId);
  }

  // ---- demotion (scope: key, model, account; 60 s after a route failure, cleared by success) ----

  demote(apiKeyId: string, model: string, assignmentId: string): void {
    this.#demotions.set(`${apiKeyId}|${model.toLowerCase()}|${assignmentId}`, this.#now() + DEMOTION_MS);
  }

  resolveDemotion(apiKeyId: string, model: string, assignmentId: string): void {
    this.#demotions.delete(`${apiKeyId}|${model.toLowerCase()}|${assignmentId}`);
  }

  demotedFor(apiKeyId: string, model: string, candidates: readonly Candidate[]): Set<string> {
    const now = this.#now();
    const out = new Set<string>();
    for (const candidate of candidates) {
      const key = `${apiKeyId}|${model.toLowerCase()}|${candidate.assignmentId}`;
      const until = this.#demotions.get(key);
      if (until === undefined) continue;
      if (until > now) out.add(candidate.assignmentId);
      else this.#demotions.delete(key);
    }
    return out;
  }

  async candidates(poolId: string): Promise<Candidate[]> {
    return (await this.#entry(poolId)).candidates;
  }

  async catalog(poolId: string): Promise<PoolCatalog> {
    return (await this.#entry(poolId)).catalog;
  }

  invalidate(poolId: string): void {
    this.#forget(poolId);
  }

  /**
   * Drops a pool's snapshot (or every one, `*`) and any load of it already under way: that load
   * read the pool before the change, so it must not be cached, and the next caller starts afresh.
   */
  #forget(poolId: string): void {
    if (poolId === '*') {
      this.#pools.clear();
      this.#loading.clear();
    } else {
      this.#pools.delete(poolId);
      this.#loading.delete(poolId);
    }
  }

  /**
   * New quota evidence from this process's own traffic: applied to the cached snapshots in place, so
   * the hot path never waits on a reload for it (the database copy is written in the background).
   */
  applyQuotaEvidence(identityId: string, windows: readonly { quotaKey: string; windowKind: 'primary' | 'secondary'; usedPercent: number | null; resetAt: Date | null }[], observedAt: Date): void {
    for (const entry of this.#pools.values()) {
      for (const candidate of entry.candidates) {
        if (candidate.identityId !== identityId) continue;
        for (const window of windows) {
          if (window.quotaKey !== 'account') continue;
          if (window.windowKind === 'primary') {
            if (window.usedPercent !== null) candidate.quota.primaryUsedPercent = window.usedPercent;
            candidate.quota.primaryResetAt = window.resetAt?.getTime() ?? candidate.quota.primaryResetAt;
          } else {
            if (window.usedPercent !== null) candidate.quota.secondaryUsedPercent = window.usedPercent;
            candidate.quota.secondaryResetAt = window.resetAt?.getTime() ?? candidate.quota.secondaryResetAt;
          }
          candidate.quota.observedAt = Math.max(candidate.quota.observedAt ?? 0, observedAt.getTime());
        }
      }
    }
  }

  /** Takes an account out of rotation until `until` (e.g. a usage-limit reset), everywhere. */
  markCooldown(candidate: Candidate, until: number, reason: string): void {
    candidate.cooldownUntil = until;
    this.#track(
      this.#db
        .updateTable('pool_upstream_assignments')
        .set({ cooldown_until: new Date(until), cooldown_reason: reason, health_status: 'cooldown', updated_at: new Date() })
        .where('id', '=', candidate.assignmentId)
        .execute()
        .then(() => this.#notifier.publish(ROUTING_CHANNEL, candidate.poolId, { awaitLocal: false })),
    );
  }

  /** Remembered for least-recent-success ranking; persisted at most once a minute per account. */
  markSuccess(candidate: Candidate): void {
    const now = this.#now();
    const previous = candidate.lastSuccessAt;
    candidate.lastSuccessAt = now;
    if (previous !== null && now - previous < 60_000) return;
    this.#track(this.#db.updateTable('pool_upstream_assignments').set({ last_success_at: new Date(now), health_status: 'active' }).where('id', '=', candidate.assignmentId).execute());
  }

  /** The account's credentials or state changed elsewhere (refresh, re-auth). */
  accountChanged(poolId: string): void {
    this.#forget(poolId);
    this.#track(this.#notifier.publish(ROUTING_CHANNEL, poolId, { awaitLocal: false }));
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#pendingWrites]);
  }

  #track(work: Promise<unknown>): void {
    const tracked = work.catch((error: unknown) => this.#log.warn({ err: error }, 'routing state could not be persisted')).finally(() => this.#pendingWrites.delete(tracked));
    this.#pendingWrites.add(tracked);
  }

  async #entry(poolId: string): Promise<PoolEntry> {
    const cached = this.#pools.get(poolId);
    if (cached && this.#now() - cached.loadedAt < SNAPSHOT_TTL_MS) return cached;
    const pending = this.#loading.get(poolId);
    if (pending) return pending.promise;
    const generation = ++this.#generation;
    const promise = this.#load(poolId, generation).finally(() => {
      if (this.#loading.get(poolId)?.generation === generation) this.#loading.delete(poolId);
    });
    this.#loading.set(poolId, { generation, promise });
    return promise;
  }

  async #load(poolId: string, generation: number): Promise<PoolEntry> {
    const loadedAt = this.#now();
    const [rows, models, settingsRow] = await Promise.all([
      this.#db
        .selectFrom('pool_upstream_assignments as a')
        .innerJoin('upstream_identities as i', 'i.id', 'a.upstream_identity_id')
        .leftJoin('account_quota_windows as qp', (join) => join.onRef('qp.upstream_identity_id', '=', 'i.id').on('qp.quota_key', '=', 'account').on('qp.window_kind', '=', 'primary').on('qp.model', '=', ''))
        .leftJoin('account_quota_windows as qs', (join) => join.onRef('qs.upstream_identity_id', '=', 'i.id').on('qs.quota_key', '=', 'account').on('qs.window_kind', '=', 'secondary').on('qs.model', '=', ''))
        .select([
          'a.id as assignment_id',
          'a.pool_id',
          'a.status as assignment_status',
          'a.eligibility_status',
          'a.cooldown_until',
          'a.assignment_label',
          'a.last_success_at',
          'i.id as identity_id',
          'i.status as identity_status',
          'i.account_label',
          'i.account_email',
          'i.plan_family',
          'i.chatgpt_account_id',
          'qp.used_percent as primary_used',
          'qp.reset_at as primary_reset',
          'qp.observed_at as primary_observed',
          'qs.used_percent as secondary_used',
          'qs.reset_at as secondary_reset',
          'qs.observed_at as secondary_observed',
        ])
        .where('a.pool_id', '=', poolId)
        .where('a.status', '<>', 'deleted')
        .execute(),
      this.#db.selectFrom('models').select(['exposed_model_id', 'upstream_model_id', 'metadata', 'status']).where('pool_id', '=', poolId).execute(),
      this.#db.selectFrom('pool_routing_settings').selectAll().where('pool_id', '=', poolId).executeTakeFirst(),
    ]);
    const settings: PoolRoutingSettings = settingsRow
      ? {
          strategy: settingsRow.routing_strategy,
          ringSize: Math.max(1, settingsRow.bridge_ring_size),
          stickyHttpSessions: settingsRow.sticky_http_sessions,
          stickyWebsocketSessions: settingsRow.sticky_websocket_sessions,
          promptCacheAffinity: settingsRow.prompt_cache_affinity_enabled,
          v1Enabled: settingsRow.v1_compatibility_enabled,
          imagesEnabled: settingsRow.allow_image_generation,
        }
      : DEFAULT_SETTINGS;
    // Which models each account advertised when its catalog was read (identity id → models).
    const advertised = new Map<string, Set<string>>();
    for (const model of models) {
      if (model.status === 'retired' || model.status === 'suppressed') continue;
      for (const identityId of Object.keys((model.metadata.sources ?? {}) as Record<string, unknown>)) {
        const set = advertised.get(identityId) ?? new Set<string>();
        set.add(model.exposed_model_id);
        advertised.set(identityId, set);
      }
    }
    const candidates: Candidate[] = rows.map((row) => {
      const observed = [row.primary_observed, row.secondary_observed].filter((d): d is Date => d instanceof Date).map((d) => d.getTime());
      return {
        assignmentId: row.assignment_id,
        identityId: row.identity_id,
        poolId: row.pool_id,
        label: row.assignment_label ?? row.account_label,
        email: row.account_email,
        plan: row.plan_family,
        chatgptAccountId: row.chatgpt_account_id,
        assignmentStatus: row.assignment_status,
        identityStatus: row.identity_status,
        eligibility: row.eligibility_status,
        cooldownUntil: row.cooldown_until?.getTime() ?? null,
        quota: {
          primaryUsedPercent: row.primary_used === null ? null : Number(row.primary_used),
          primaryResetAt: row.primary_reset?.getTime() ?? null,
          secondaryUsedPercent: row.secondary_used === null ? null : Number(row.secondary_used),
          secondaryResetAt: row.secondary_reset?.getTime() ?? null,
          observedAt: observed.length ? Math.max(...observed) : null,
        },
        lastSuccessAt: row.last_success_at?.getTime() ?? null,
        models: advertised.get(row.identity_id) ?? null,
      };
    });
    const catalog: PoolCatalog = { fetched: models.length > 0, models: new Map() };
    for (const model of models) {
      if (model.status === 'retired' || model.status === 'suppressed') continue;
      catalog.models.set(model.exposed_model_id, { upstreamModelId: model.upstream_model_id, entry: (model.metadata.upstream_entry ?? {}) as Record<string, unknown> });
    }
    const entry = { loadedAt, candidates, catalog, settings };
    // Its callers still get this snapshot, but one overtaken by an invalidation is not remembered.
    if (this.#loading.get(poolId)?.generation === generation) this.#pools.set(poolId, entry);
    return entry;
  }
}
