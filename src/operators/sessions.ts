import { sql } from 'kysely';
import { deriveKey, mintOpaqueToken, opaqueTokenDigest, OPAQUE_TOKEN_PATTERN, signPayload, verifySignature, type Keyring } from '../crypto/index.ts';
import type { Db, Tx } from '../db/index.ts';
import type { PoolStatus } from '../pools/index.ts';
import type { OperatorRole } from './operator.table.ts';
import type { OperatorScope } from './scope.ts';

/** Absolute lifetime of a signed-in session (spec §4.2: no sliding expiry). */
export const SESSION_TTL_MS = 14 * 24 * 60 * 60_000;
/** A password-checked session waiting for its TOTP step lives only this long. */
export const PENDING_MFA_TTL_MS = 10 * 60_000;
const TOUCH_EVERY_MS = 60_000;

/** What the admin API and the login flow need from the services. */
export type AuthDeps = { db: Db; totpKeyring: Keyring; secretKeyBase: string; now?: () => Date };

export const nowOf = (deps: { now?: () => Date }): Date => deps.now?.() ?? new Date();

export type ClientContext = { ipAddress: string | null; userAgent: string | null; correlationId: string | null };

export type SignedInSession = {
  sessionId: string;
  userId: string;
  email: string;
  displayName: string | null;
  /** False while the operator still owes the TOTP step. */
  mfaVerified: boolean;
  passwordChangeRequired: boolean;
  totpEnabled: boolean;
  expiresAt: Date;
  createdAt: Date;
};

export type IssuedSession = { token: string; sessionId: string; expiresAt: Date };

/** Opens a session row; only the SHA-256 of the returned token is stored. */
export async function openSession(db: Db | Tx, input: { userId: string; mfaVerified: boolean; client: ClientContext; now: Date }): Promise<IssuedSession> {
  const { token, digest } = mintOpaqueToken();
  const ttl = input.mfaVerified ? SESSION_TTL_MS : PENDING_MFA_TTL_MS;
  const expiresAt = new Date(input.now.getTime() + ttl);
  const row = await db
    .insertInto('sessions')
    .values({
      user_id: input.userId,
      session_token_hash: digest,
      mfa_verified: input.mfaVerified,
      expires_at: expiresAt,
      last_seen_at: input.now,
      ip_address: input.client.ipAddress,
      user_agent: input.client.userAgent?.slice(0, 512) ?? null,
      revoked_at: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { token, sessionId: row.id, expiresAt };
}

/**
 * The session behind a presented token, or null: the row must be active and unexpired, and its
 * operator active, not deleted and still holding a role. `last_seen_at` is touched at most once a minute.
 */
export async function resolveSession(db: Db, token: string, now: Date): Promise<SignedInSession | null> {
  if (!OPAQUE_TOKEN_PATTERN.test(token)) return null;
  const row = await db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .select(['s.id', 's.user_id', 's.status', 's.mfa_verified', 's.expires_at', 's.created_at', 's.last_seen_at', 'u.email', 'u.display_name', 'u.status as user_status', 'u.deleted_at', 'u.password_change_required'])
    .select((eb) => eb.exists(eb.selectFrom('totp_settings').select('id').whereRef('totp_settings.user_id', '=', 'u.id').where('totp_settings.status', '=', 'active')).as('totp_enabled'))
    .where('s.session_token_hash', '=', opaqueTokenDigest(token))
    .executeTakeFirst();
  if (!row || row.status !== 'active') return null;
  if (row.expires_at.getTime() <= now.getTime()) {
    await db.updateTable('sessions').set({ status: 'expired', updated_at: now }).where('id', '=', row.id).where('status', '=', 'active').execute();
    return null;
  }
  if (row.user_status !== 'active' || row.deleted_at !== null) return null;
  if (!row.last_seen_at || now.getTime() - row.last_seen_at.getTime() > TOUCH_EVERY_MS) {
    await db.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', row.id).execute();
  }
  return {
    sessionId: row.id,
    userId: row.user_id,
    email: row.email,
    displayName: row.display_name,
    mfaVerified: row.mfa_verified,
    passwordChangeRequired: row.password_change_required,
    totpEnabled: Boolean(row.totp_enabled),
    expiresAt: row.expires_at,
    createdAt: row.created_at,
  };
}

/** The operator's active role and assigned Pools, or null when they hold no active role. */
export async function loadScope(db: Db, session: SignedInSession, context: { ipAddress: string | null; correlationId: string | null }): Promise<OperatorScope | null> {
  const membership = await db.selectFrom('memberships').select('role').where('user_id', '=', session.userId).where('status', '=', 'active').orderBy('created_at', 'desc').executeTakeFirst();
  if (!membership) return null;
  const assignedPools = new Map<string, PoolStatus>();
  if (membership.role === 'instance_admin') {
    const rows = await db
      .selectFrom('operator_pool_assignments as a')
      .innerJoin('pools as p', 'p.id', 'a.pool_id')
      .select(['p.id', 'p.status'])
      .where('a.user_id', '=', session.userId)
      .where('a.status', '=', 'active')
      .execute();
    for (const row of rows) assignedPools.set(row.id, row.status);
  }
  return { kind: 'operator', userId: session.userId, email: session.email, displayName: session.displayName, role: membership.role as OperatorRole, assignedPools, sessionId: session.sessionId, context };
}

/**
 * Finishes a pending (password-checked) session after its TOTP step: a new token replaces the old
 * one, so a token seen before the second factor is worthless after it.
 */
export async function promoteSession(db: Db | Tx, sessionId: string, now: Date): Promise<IssuedSession> {
  const { token, digest } = mintOpaqueToken();
  const expiresAt = new Date(now.getTime() + SESSION_TTL_MS);
  await db.updateTable('sessions').set({ session_token_hash: digest, mfa_verified: true, expires_at: expiresAt, last_seen_at: now, updated_at: now }).where('id', '=', sessionId).execute();
  return { token, sessionId, expiresAt };
}

export async function revokeSession(db: Db | Tx, sessionId: string, now: Date): Promise<boolean> {
  const result = await db.updateTable('sessions').set({ status: 'revoked', revoked_at: now, updated_at: now }).where('id', '=', sessionId).where('status', '=', 'active').executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Revokes every active session of an operator, except one (the caller's own) when given. */
export async function revokeOperatorSessions(db: Db | Tx, userId: string, now: Date, exceptSessionId: string | null = null): Promise<number> {
  let query = db.updateTable('sessions').set({ status: 'revoked', revoked_at: now, updated_at: now }).where('user_id', '=', userId).where('status', '=', 'active');
  if (exceptSessionId) query = query.where('id', '<>', exceptSessionId);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export type SessionView = { id: string; current: boolean; created_at: Date; last_seen_at: Date | null; expires_at: Date; ip_address: string | null; user_agent: string | null };

/** The operator's own signed-in sessions, current first. */
export async function listOwnSessions(db: Db, scope: OperatorScope, now: Date): Promise<SessionView[]> {
  const rows = await db
    .selectFrom('sessions')
    .select(['id', 'created_at', 'last_seen_at', 'expires_at', sql<string | null>`host(ip_address)`.as('ip_address'), 'user_agent'])
    .where('user_id', '=', scope.userId)
    .where('status', '=', 'active')
    .where('mfa_verified', '=', true)
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map((row) => ({ ...row, current: row.id === scope.sessionId })).sort((a, b) => Number(b.current) - Number(a.current));
}

// ---- CSRF -------------------------------------------------------------------------------------

/** The per-session CSRF token: an HMAC of the session id, so it changes whenever the session does. */
export function csrfTokenFor(secretKeyBase: string, sessionId: string): string {
  return signPayload(deriveKey(secretKeyBase, 'admin-csrf'), [sessionId]);
}

export function csrfTokenMatches(secretKeyBase: string, sessionId: string, presented: unknown): boolean {
  return typeof presented === 'string' && verifySignature(deriveKey(secretKeyBase, 'admin-csrf'), [sessionId], presented);
}
