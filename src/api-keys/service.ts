import { recordAudit, type Actor } from '../audit/index.ts';
import { mintPoolApiKey } from '../crypto/index.ts';
import { API_KEY_CHANNEL, isUuid, jsonb, type Db, type Notifier } from '../db/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';
import { findPool } from '../pools/index.ts';
import type { ApiKeyRow, ApiKeyStatus } from './api-key.table.ts';
import { modelPolicyOf, type ModelPolicy } from './model-policy.ts';

export { API_KEY_CHANNEL };

export type ApiKey = {
  id: string;
  poolId: string;
  prefix: string;
  label: string | null;
  /** Free text for operators (who uses it, where it is deployed); kept in `metadata.notes`. */
  notes: string | null;
  status: ApiKeyStatus;
  /** `expired` is derived: an active key past its expiry. */
  state: ApiKeyStatus | 'expired';
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
  dashboardAccess: boolean;
  /** Models, enforced model, reasoning and service tier (limits live in the policy bindings). */
  policy: ModelPolicy;
};

export type MintedApiKey = { apiKey: ApiKey; key: string };

const PREFIX_PATTERN = /^sk-cxp-[0-9a-f]{12}$/;

export function toApiKey(row: ApiKeyRow, now = new Date()): ApiKey {
  const expired = row.status === 'active' && row.expires_at !== null && row.expires_at.getTime() <= now.getTime();
  return {
    id: row.id,
    poolId: row.pool_id,
    prefix: row.key_prefix,
    label: row.display_name,
    notes: typeof row.metadata?.notes === 'string' ? row.metadata.notes : null,
    status: row.status,
    state: expired ? 'expired' : row.status,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
    dashboardAccess: row.dashboard_access,
    policy: modelPolicyOf(row),
  };
}

/** Parses an expiry: RFC 3339 / ISO-8601 date or date-time, which must lie in the future. */
export function parseExpiry(raw: unknown, now = new Date()): Date | null {
  if (raw === undefined || raw === null || raw === '') return null;
  if (typeof raw !== 'string' || !/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw.trim())) {
    throw invalidInput('expires_at must be an ISO-8601 date such as 2027-01-31 or 2027-01-31T12:00:00Z', 'expires_at');
  }
  const date = new Date(raw.trim());
  if (Number.isNaN(date.getTime())) throw invalidInput('expires_at is not a valid date', 'expires_at');
  if (date.getTime() <= now.getTime()) throw invalidInput('expires_at must be in the future', 'expires_at');
  return date;
}

export async function mintApiKey(
  deps: { db: Db; notifier: Notifier },
  actor: Actor,
  input: { pool: string; label?: unknown; expiresAt?: unknown; notes?: unknown; dashboardAccess?: boolean },
): Promise<MintedApiKey> {
  const pool = await findPool(deps.db, input.pool);
  if (pool.status !== 'active') throw new PoolerError('conflict', `pool ${pool.slug} is ${pool.status}; keys can only be created in an active pool`, { param: 'pool' });
  const label = typeof input.label === 'string' && input.label.trim() ? input.label.trim().slice(0, 160) : null;
  if (input.label !== undefined && input.label !== null && typeof input.label !== 'string') throw invalidInput('label must be a string', 'label');
  const expiresAt = parseExpiry(input.expiresAt);
  if (input.notes !== undefined && input.notes !== null && typeof input.notes !== 'string') throw invalidInput('notes must be a string', 'notes');
  const notes = typeof input.notes === 'string' && input.notes.trim() ? input.notes.trim() : null;
  if (notes !== null && notes.length > 2000) throw invalidInput('notes may be at most 2000 characters', 'notes');
  const minted = mintPoolApiKey();
  const row = await deps.db.transaction().execute(async (tx) => {
    const inserted = await tx
      .insertInto('api_keys')
      .values({
        pool_id: pool.id,
        display_name: label,
        key_prefix: minted.prefix,
        key_hash: minted.secretDigest,
        expires_at: expiresAt,
        last_used_at: null,
        revoked_at: null,
        allowed_model_identifiers: null,
        enforced_model_identifier: null,
        enforced_reasoning_effort: null,
        maximum_reasoning_effort: null,
        enforced_service_tier: null,
        dashboard_access: input.dashboardAccess === true,
        ...(notes ? { metadata: jsonb({ notes }) } : {}),
        created_by_user_id: actor.type === 'user' ? actor.userId : null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(tx, { actor, action: 'api_key.create', poolId: pool.id, targetType: 'api_key', targetId: inserted.id, details: { key_prefix: inserted.key_prefix, label, expires_at: expiresAt?.toISOString() ?? null, dashboard_access: inserted.dashboard_access } });
    return inserted;
  });
  // A cached "unknown prefix" answer must not outlive the key's creation.
  await deps.notifier.publish(API_KEY_CHANNEL, row.key_prefix);
  return { apiKey: toApiKey(row), key: minted.key };
}

export async function listApiKeys(db: Db, filter: { pool?: string } = {}): Promise<ApiKey[]> {
  let query = db.selectFrom('api_keys').selectAll().orderBy('created_at');
  if (filter.pool) query = query.where('pool_id', '=', (await findPool(db, filter.pool)).id);
  const now = new Date();
  return (await query.execute()).map((row) => toApiKey(row, now));
}

/** Which column an operator's key reference names: an id (uuid), a prefix (`sk-cxp-<12 hex>`), or neither. */
export function apiKeyRefColumn(ref: string): 'id' | 'key_prefix' | null {
  const trimmed = ref.trim();
  return isUuid(trimmed) ? 'id' : PREFIX_PATTERN.test(trimmed) ? 'key_prefix' : null;
}
