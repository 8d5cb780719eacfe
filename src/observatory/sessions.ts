import { recordAudit, type Actor } from '../audit/index.ts';
import { apiKeyRefColumn, deleteObservatorySessions } from '../api-keys/index.ts';
import { digestMatches, mintOpaqueToken, OPAQUE_TOKEN_PATTERN, opaqueTokenDigest, parsePresentedKey, sha256 } from '../crypto/index.ts';
import { API_KEY_CHANNEL, type Db, type Notifier, type Tx } from '../db/index.ts';
import { invalidInput, PoolerError } from '../errors.ts';

export const OBSERVATORY_SESSION_MS = 14 * 86_400_000;
export const MAX_SESSIONS_PER_KEY = 10;
/** The one answer to every failed sign-in: it never says which check failed (spec §6.3). */
export const OBSERVATORY_LOGIN_FAILED = 'The API key is invalid or unavailable.';

export const observatoryLoginFailed = () => new PoolerError('observatory_login_failed', OBSERVATORY_LOGIN_FAILED);

// Compared against when the prefix is unknown, so timing does not tell which keys exist.
const DUMMY_DIGEST = sha256('codex-pooler-observatory-dummy');

type KeyState = { status: string; dashboard_access: boolean; expires_at: Date | null; pool_status: string };
const eligible = (key: KeyState, now: Date) => key.status === 'active' && key.dashboard_access && (key.expires_at === null || key.expires_at > now) && key.pool_status === 'active';

export type ObservatorySession = { token: string; apiKeyId: string; expiresAt: Date };

/**
 * Signs a key holder in with the key itself (spec §6.3): the key must match, be active, have
 * dashboard access, be unexpired and in an active Pool, checked under the key's row lock. Expired
 * sessions of the key are purged and at most ten kept (the oldest trimmed). 14 days, not renewed.
 */
export async function signInWithKey(db: Db, rawKey: unknown, now = new Date()): Promise<ObservatorySession> {
  const presented = typeof rawKey === 'string' ? parsePresentedKey(rawKey) : null;
  if (!presented) {
    digestMatches('unknown', DUMMY_DIGEST);
    throw observatoryLoginFailed();
  }
  return db.transaction().execute(async (tx) => {
    const key = await tx
      .selectFrom('api_keys as k')
      .innerJoin('pools as p', 'p.id', 'k.pool_id')
      .select(['k.id', 'k.key_hash', 'k.status', 'k.dashboard_access', 'k.expires_at', 'p.status as pool_status'])
      .where('k.key_prefix', '=', presented.prefix)
      .forUpdate('k')
      .executeTakeFirst();
    const matches = digestMatches(presented.secret, key?.key_hash ?? DUMMY_DIGEST);
    if (!key || !matches || !eligible(key, now)) throw observatoryLoginFailed();
    await tx.deleteFrom('api_key_dashboard_sessions').where('api_key_id', '=', key.id).where('expires_at', '<=', now).execute();
    const { token, digest } = mintOpaqueToken();
    const expiresAt = new Date(now.getTime() + OBSERVATORY_SESSION_MS);
    await tx.insertInto('api_key_dashboard_sessions').values({ api_key_id: key.id, token_hash: digest, expires_at: expiresAt, inserted_at: now }).execute();
    await trimSessions(tx, key.id);
    return { token, apiKeyId: key.id, expiresAt };
  });
}

async function trimSessions(tx: Tx, apiKeyId: string): Promise<void> {
  const keep = tx.selectFrom('api_key_dashboard_sessions').select('id').where('api_key_id', '=', apiKeyId).orderBy('inserted_at', 'desc').orderBy('id', 'desc').limit(MAX_SESSIONS_PER_KEY);
  await tx.deleteFrom('api_key_dashboard_sessions').where('api_key_id', '=', apiKeyId).where('id', 'not in', keep).execute();
}

/** The key a session token belongs to, while the session is unexpired and the key still eligible; else null. */
export async function observatoryKeyOf(db: Db, token: string | null, now = new Date()): Promise<string | null> {
  if (!token || !OPAQUE_TOKEN_PATTERN.test(token)) return null;
  const row = await db
    .selectFrom('api_key_dashboard_sessions as s')
    .innerJoin('api_keys as k', 'k.id', 's.api_key_id')
    .innerJoin('pools as p', 'p.id', 'k.pool_id')
    .select(['k.id', 'k.status', 'k.dashboard_access', 'k.expires_at', 'p.status as pool_status', 's.expires_at as session_expires_at'])
    .where('s.token_hash', '=', opaqueTokenDigest(token))
    .executeTakeFirst();
  if (!row || row.session_expires_at <= now || !eligible(row, now)) return null;
  return row.id;
}

export async function signOut(db: Db, token: string | null): Promise<void> {
  if (!token || !OPAQUE_TOKEN_PATTERN.test(token)) return;
  await db.deleteFrom('api_key_dashboard_sessions').where('token_hash', '=', opaqueTokenDigest(token)).execute();
}

/** Turns a key's Observatory access on or off (audited); turning it off ends its sessions. */
export async function setDashboardAccess(deps: { db: Db; notifier: Notifier }, actor: Actor, ref: string, enabled: boolean): Promise<{ id: string; prefix: string; dashboardAccess: boolean }> {
  const trimmed = ref.trim();
  const column = apiKeyRefColumn(trimmed);
  if (!column) throw invalidInput('give a key id (uuid) or prefix (sk-cxp-<12 hex>)', 'key');
  const row = await deps.db.transaction().execute(async (tx) => {
    const current = await tx.selectFrom('api_keys').select(['id', 'pool_id', 'key_prefix', 'dashboard_access', 'status']).where(column, '=', trimmed).forUpdate().executeTakeFirst();
    if (!current) throw new PoolerError('not_found', `api key ${trimmed} does not exist`, { param: 'key' });
    if (current.status === 'revoked') throw new PoolerError('api_key_revoked', 'the api key is revoked; it can no longer be changed, only deleted', { status: 409, param: 'status' });
    if (current.dashboard_access === enabled) return current;
    await tx.updateTable('api_keys').set({ dashboard_access: enabled, updated_at: new Date() }).where('id', '=', current.id).execute();
    if (!enabled) await deleteObservatorySessions(tx, current.id);
    await recordAudit(tx, { actor, action: 'api_key.update', poolId: current.pool_id, targetType: 'api_key', targetId: current.id, details: { key_prefix: current.key_prefix, changed_fields: ['dashboard_access'], dashboard_access: enabled } });
    return { ...current, dashboard_access: enabled };
  });
  await deps.notifier.publish(API_KEY_CHANNEL, row.key_prefix);
  return { id: row.id, prefix: row.key_prefix, dashboardAccess: row.dashboard_access };
}
