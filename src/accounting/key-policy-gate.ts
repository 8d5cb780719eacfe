import { sql } from 'kysely';
// A limits edit publishes on the key channel, like any other key change.
import { API_KEY_CHANNEL, type Db, type Notifier } from '../db/index.ts';
import { PoolerError } from '../errors.ts';
import { checkLimits, effectiveLimits, policyError, type KeyLimits, type KeyPolicy, type KeyUsage, type PolicyRequest } from './key-policies.ts';

const POLICY_TTL_MS = 30_000;
const USAGE_TTL_MS = 1_000;
// Settlements reach the buckets through the request-log writer within about half a second.
const SETTLE_LAG_MS = 1_500;

type LocalAdmission = { at: number; tokens: number; settledAt: number | null };

const limitsOf = (row: { max_requests_per_minute: number | null; max_tokens_per_day: number | null; max_tokens_per_week: number | null; max_input_tokens_per_request: number | null; max_output_tokens_per_request: number | null }): KeyLimits => ({
  maxRequestsPerMinute: row.max_requests_per_minute,
  maxTokensPerDay: row.max_tokens_per_day === null ? null : Number(row.max_tokens_per_day),
  maxTokensPerWeek: row.max_tokens_per_week === null ? null : Number(row.max_tokens_per_week),
  maxInputTokensPerRequest: row.max_input_tokens_per_request === null ? null : Number(row.max_input_tokens_per_request),
  maxOutputTokensPerRequest: row.max_output_tokens_per_request === null ? null : Number(row.max_output_tokens_per_request),
});

/**
 * Enforces key limits on the hot path, before anything goes upstream. Usage comes from the
 * Postgres minute buckets every process writes (refreshed at most once a second), plus this
 * process's own admissions not yet reflected there, so several web processes stay correct within
 * about a second of each other. Keys without limits cost one map lookup.
 */
export class KeyPolicyGate {
  #db: Db;
  #now: () => number;
  #policies = new Map<string, { at: number; policy: KeyPolicy | null }>();
  /** Bumped by every invalidation: a policy read that started before one is not cached. */
  #policyGeneration = 0;
  #usage = new Map<string, { at: number; usage: KeyUsage }>();
  #local = new Map<string, LocalAdmission[]>();

  #onClaimError: (error: unknown) => void;

  constructor(db: Db, options: { now?: () => number; onClaimError?: (error: unknown) => void } = {}) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
    this.#onClaimError = options.onClaimError ?? (() => {});
  }

  async listen(notifier: Notifier): Promise<void> {
    await notifier.subscribe(API_KEY_CHANNEL, () => {
      this.#policyGeneration++;
      this.#policies.clear();
    });
  }

  /** Drops a key's cached limits now (the process that changed them must not wait for its own NOTIFY). */
  invalidate(apiKeyId: string): void {
    this.#policyGeneration++;
    this.#policies.delete(apiKeyId);
  }

  /** Admits a request or throws the limit error; the returned function marks it finished. */
  async admit(apiKeyId: string, model: string, request: PolicyRequest): Promise<() => void> {
    const policy = await this.#policyFor(apiKeyId);
    const limits = policy ? effectiveLimits(policy, model) : null;
    if (!limits) return () => {};
    const now = this.#now();
    const stored = await this.#usageFor(apiKeyId, now);
    const local = (this.#local.get(apiKeyId) ?? []).filter((a) => a.settledAt === null || a.settledAt + SETTLE_LAG_MS > stored.at);
    this.#local.set(apiKeyId, local);
    const usage: KeyUsage = {
      requestsLastMinute: stored.usage.requestsLastMinute + local.filter((a) => a.at > now - 60_000).length,
      tokensToday: stored.usage.tokensToday + local.reduce((n, a) => n + a.tokens, 0),
      tokensLast7Days: stored.usage.tokensLast7Days + local.reduce((n, a) => n + a.tokens, 0),
    };
    // Requests per minute are claimed atomically in the database below (exact across processes);
    // token windows use the estimate from buckets plus local admissions.
    const violation = checkLimits({ ...limits, maxRequestsPerMinute: null }, usage, request, new Date(now));
    if (violation) throw policyError(violation, new Date(now));
    if (limits.maxRequestsPerMinute !== null) {
      try {
        await this.#claimRequestSlot(apiKeyId, limits.maxRequestsPerMinute);
      } catch (error) {
        if (error instanceof PoolerError) throw error;
        // The database did not answer: a request it could serve is not failed for that. The
        // limit falls back to this process's estimate (buckets read earlier plus local admissions).
        this.#onClaimError(error);
        const estimated = checkLimits({ ...limits, maxTokensPerDay: null, maxTokensPerWeek: null, maxInputTokensPerRequest: null, maxOutputTokensPerRequest: null }, usage, request, new Date(now));
        if (estimated) throw policyError(estimated, new Date(now));
      }
    }
    const admission: LocalAdmission = { at: now, tokens: request.inputTokens + request.outputTokens, settledAt: null };
    local.push(admission);
    return () => {
      admission.settledAt = this.#now();
    };
  }

  /**
   * Claims a slot in the key's rolling 60 s window, in one database call: the function locks the
   * key, prunes admissions older than the window and records this one only under the limit, so
   * every web process enforces the limit exactly. A refusal resets when the oldest admission in
   * the window leaves it.
   */
  async #claimRequestSlot(apiKeyId: string, max: number): Promise<void> {
    const result = await sql<{ admitted: boolean; in_window: number; oldest: Date | null; checked_at: Date }>`
      SELECT admitted, in_window, oldest, checked_at FROM claim_api_key_request_slot(${apiKeyId}::uuid, ${max}::integer)`.execute(this.#db);
    const row = result.rows[0];
    if (!row || row.admitted) return;
    const checkedAt = new Date(row.checked_at);
    const oldest = row.oldest ? new Date(row.oldest) : checkedAt;
    throw policyError(
      { field: 'max_requests_per_minute', metric: 'requests', window: 'minute', attempted: row.in_window + 1, max, resetsAt: new Date(oldest.getTime() + 60_000) },
      checkedAt,
    );
  }

  async #policyFor(apiKeyId: string): Promise<KeyPolicy | null> {
    const cached = this.#policies.get(apiKeyId);
    if (cached && this.#now() - cached.at < POLICY_TTL_MS) return cached.policy;
    const generation = this.#policyGeneration;
    const rows = await this.#db.selectFrom('api_key_policy_bindings').selectAll().where('api_key_id', '=', apiKeyId).where('status', '=', 'active').execute();
    let policy: KeyPolicy | null = null;
    if (rows.length > 0) {
      const models = new Map<string, KeyLimits>();
      let fallback: KeyLimits | null = null;
      for (const row of rows) {
        if (row.binding_scope === 'default') fallback = limitsOf(row);
        else if (row.model_identifier) models.set(row.model_identifier.toLowerCase(), limitsOf(row));
      }
      policy = { default: fallback, models };
    }
    // This caller still uses what it read, but limits changed meanwhile are not cached over.
    if (generation === this.#policyGeneration) this.#policies.set(apiKeyId, { at: this.#now(), policy });
    return policy;
  }

  async #usageFor(apiKeyId: string, now: number): Promise<{ at: number; usage: KeyUsage }> {
    const cached = this.#usage.get(apiKeyId);
    if (cached && now - cached.at < USAGE_TTL_MS) return cached;
    const date = new Date(now);
    const dayStart = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
    const minuteAgo = new Date(Math.floor((now - 60_000) / 60_000) * 60_000);
    const weekAgo = new Date(now - 7 * 86_400_000);
    const result = await sql<{ rpm: string | number; day: string | number; week: string | number }>`
      SELECT coalesce(sum(request_count) FILTER (WHERE minute > ${minuteAgo}), 0) AS rpm,
             coalesce(sum(total_tokens) FILTER (WHERE minute >= ${dayStart}), 0) AS day,
             coalesce(sum(total_tokens), 0) AS week
        FROM api_key_usage_buckets WHERE api_key_id = ${apiKeyId} AND minute >= ${weekAgo}`.execute(this.#db);
    const row = result.rows[0];
    const entry = { at: now, usage: { requestsLastMinute: Number(row?.rpm ?? 0), tokensToday: Number(row?.day ?? 0), tokensLast7Days: Number(row?.week ?? 0) } };
    this.#usage.set(apiKeyId, entry);
    return entry;
  }
}
