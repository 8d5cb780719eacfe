import { sql } from 'kysely';
import { z } from 'zod';
import { recordAudit, type Actor } from '../audit/index.ts';
import { dummyVerify, verifyPassword } from '../crypto/index.ts';
import { PoolerError } from '../errors.ts';
import { EMAIL_SCHEMA } from './bootstrap.ts';
import { assertLoginAllowed, clearAccountFailures, DEFAULT_LOGIN_LIMITS, recordLoginFailure, type LoginLimits } from './login-throttle.ts';
import { hasSecondFactor, verifySecondFactor, type SecondFactor } from './second-factor.ts';
import { nowOf, openSession, promoteSession, type AuthDeps, type ClientContext, type IssuedSession, type SignedInSession } from './sessions.ts';

export type LoginDeps = AuthDeps & { loginLimits?: LoginLimits };

/** `signed_in`: a full session. `totp_required`: a short pending session that only the TOTP step accepts. */
export type LoginOutcome = { kind: 'signed_in' | 'totp_required'; session: IssuedSession; userId: string };

const LOGIN_INPUT = z.object({
  email: z.string().max(320),
  password: z.string().max(1024),
  totp_code: z.string().max(64).nullish(),
  recovery_code: z.string().max(64).nullish(),
});

type FailureReason = 'invalid_credentials' | 'totp_invalid';

/**
 * Email + password sign-in (spec §4.2, §13). Unknown emails cost a dummy Argon2 verification;
 * every failure reads "Invalid email or password.", counts toward the IP and account lockout and is
 * audited as `auth.login` with outcome failure. With active TOTP and no code, a pending session is
 * opened for the second step.
 */
export async function login(deps: LoginDeps, input: unknown, client: ClientContext): Promise<LoginOutcome> {
  const now = nowOf(deps);
  const parsed = LOGIN_INPUT.safeParse(input);
  const email = parsed.success ? EMAIL_SCHEMA.safeParse(parsed.data.email) : null;
  const normalizedEmail = email?.success ? email.data : null;
  await assertLoginAllowed(deps.db, client.ipAddress, normalizedEmail, now);
  if (!parsed.success || !normalizedEmail || !parsed.data.password) {
    await dummyVerify(parsed.success ? parsed.data.password : '');
    return fail(deps, client, normalizedEmail, null, 'invalid_credentials', now);
  }
  const { password } = parsed.data;
  const factor: SecondFactor = { totpCode: parsed.data.totp_code ?? null, recoveryCode: parsed.data.recovery_code ?? null };

  const user = await deps.db
    .selectFrom('users')
    .select(['id', 'email', 'password_hash', 'status'])
    .select((eb) => [
      eb.exists(eb.selectFrom('memberships').select('id').whereRef('memberships.user_id', '=', 'users.id').where('memberships.status', '=', 'active')).as('has_role'),
      eb.exists(eb.selectFrom('totp_settings').select('id').whereRef('totp_settings.user_id', '=', 'users.id').where('totp_settings.status', '=', 'active')).as('totp_enabled'),
    ])
    .where(sql`lower(email)`, '=', normalizedEmail)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!user) {
    await dummyVerify(password);
    return fail(deps, client, normalizedEmail, null, 'invalid_credentials', now);
  }
  const passwordOk = await verifyPassword(user.password_hash, password);
  if (!passwordOk || user.status !== 'active' || !user.has_role) return fail(deps, client, normalizedEmail, user.id, 'invalid_credentials', now);

  const actor: Actor & { type: 'user' } = { type: 'user', userId: user.id, label: user.email, context: client };
  if (user.totp_enabled) {
    if (!hasSecondFactor(factor)) {
      const session = await openSession(deps.db, { userId: user.id, mfaVerified: false, client, now });
      return { kind: 'totp_required', session, userId: user.id };
    }
    if (!(await verifySecondFactor(deps.db, deps.totpKeyring, actor, factor, now))) return fail(deps, client, normalizedEmail, user.id, 'totp_invalid', now, factor);
  }
  return signIn(deps, actor, client, now, null);
}

/**
 * The second sign-in step: the pending session's operator presents a TOTP or recovery code. A
 * wrong code counts toward the lockout like a wrong password.
 */
export async function completeTotpStep(deps: LoginDeps, pending: SignedInSession, input: unknown, client: ClientContext): Promise<LoginOutcome> {
  const now = nowOf(deps);
  await assertLoginAllowed(deps.db, client.ipAddress, pending.email, now);
  const parsed = z.object({ totp_code: z.string().max(64).nullish(), recovery_code: z.string().max(64).nullish() }).safeParse(input ?? {});
  const factor: SecondFactor = parsed.success ? { totpCode: parsed.data.totp_code ?? null, recoveryCode: parsed.data.recovery_code ?? null } : {};
  const actor: Actor & { type: 'user' } = { type: 'user', userId: pending.userId, label: pending.email, context: client };
  if (!hasSecondFactor(factor) || !(await verifySecondFactor(deps.db, deps.totpKeyring, actor, factor, now))) {
    return fail(deps, client, pending.email, pending.userId, 'totp_invalid', now, factor);
  }
  return signIn(deps, actor, client, now, pending.sessionId);
}

async function signIn(deps: LoginDeps, actor: Actor & { type: 'user' }, client: ClientContext, now: Date, pendingSessionId: string | null): Promise<LoginOutcome> {
  const session = await deps.db.transaction().execute(async (tx) => {
    const issued = pendingSessionId ? await promoteSession(tx, pendingSessionId, now) : await openSession(tx, { userId: actor.userId, mfaVerified: true, client, now });
    await tx.updateTable('users').set({ last_login_at: now, failed_login_count: 0, locked_until: null, updated_at: now }).where('id', '=', actor.userId).execute();
    await recordAudit(tx, { actor, action: 'auth.login', targetType: 'user', targetId: actor.userId, details: { email: actor.label, second_factor: pendingSessionId !== null } });
    return issued;
  });
  await clearAccountFailures(deps.db, actor.label ?? '');
  return { kind: 'signed_in', session, userId: actor.userId };
}

async function fail(deps: LoginDeps, client: ClientContext, email: string | null, userId: string | null, reason: FailureReason, now: Date, factor: SecondFactor = {}): Promise<never> {
  const limits = deps.loginLimits ?? DEFAULT_LOGIN_LIMITS;
  const outcome = await recordLoginFailure(deps.db, client.ipAddress, email, now, limits);
  const actor: Actor = userId ? { type: 'user', userId, label: email, context: client } : { type: 'system', label: 'anonymous', context: client };
  await deps.db.transaction().execute(async (tx) => {
    if (userId) {
      const lockedUntil = outcome.lockedKinds.includes('account') ? outcome.lockedUntil : undefined;
      await tx.updateTable('users').set({ failed_login_count: sql`failed_login_count + 1`, ...(lockedUntil ? { locked_until: lockedUntil } : {}) }).where('id', '=', userId).execute();
    }
    await recordAudit(tx, { actor, action: 'auth.login', outcome: 'failure', targetType: userId ? 'user' : null, targetId: userId, details: { email, reason } });
    if (outcome.lockedKinds.length > 0) {
      await recordAudit(tx, { actor, action: 'auth.login_locked', outcome: 'failure', targetType: userId ? 'user' : null, targetId: userId, details: { email, locked: outcome.lockedKinds, locked_until: outcome.lockedUntil?.toISOString() ?? null } });
    }
  });
  if (reason === 'totp_invalid') {
    throw new PoolerError('totp_invalid', factor.recoveryCode?.trim() && !factor.totpCode?.trim() ? 'Recovery code is invalid.' : 'Authenticator code is invalid.');
  }
  throw new PoolerError('invalid_credentials');
}
