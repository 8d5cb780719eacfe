import { recordAudit } from '../audit/index.ts';
import { generateTotpSecret, sealTotpSecret, totpUri } from '../crypto/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';
import { acceptTotpCode, hasSecondFactor, issueRecoveryCodes, verifySecondFactor, type SecondFactor } from './second-factor.ts';
import { actorOf, authorize, type OperatorScope } from './scope.ts';
import { nowOf, type AuthDeps } from './sessions.ts';

export type TotpEnrollment = { secret: string; otpauthUri: string; recoveryCodes: string[] };

export type TotpState = { status: 'disabled' | 'pending' | 'active'; enrolledAt: Date | null; remainingRecoveryCodes: number };

export async function totpState(deps: AuthDeps, userId: string): Promise<TotpState> {
  const setting = await deps.db.selectFrom('totp_settings').select(['id', 'status', 'enrolled_at']).where('user_id', '=', userId).executeTakeFirst();
  if (!setting) return { status: 'disabled', enrolledAt: null, remainingRecoveryCodes: 0 };
  const remaining = setting.status === 'active'
    ? await deps.db.selectFrom('recovery_codes').select(deps.db.fn.countAll<string>().as('n')).where('totp_setting_id', '=', setting.id).where('status', '=', 'active').executeTakeFirstOrThrow()
    : { n: '0' };
  return { status: setting.status, enrolledAt: setting.status === 'active' ? setting.enrolled_at : null, remainingRecoveryCodes: Number(remaining.n) };
}

/**
 * Starts (or restarts) TOTP enrollment: a new secret sealed with the TOTP key, ten recovery codes.
 * Nothing changes at sign-in until `confirmTotpEnrollment` sees a valid code (spec §13).
 */
export async function beginTotpEnrollment(deps: AuthDeps, scope: OperatorScope): Promise<TotpEnrollment> {
  const now = nowOf(deps);
  const secret = generateTotpSecret();
  const sealed = sealTotpSecret(deps.totpKeyring, secret);
  const recoveryCodes = await deps.db.transaction().execute(async (tx) => {
    const current = await tx.selectFrom('totp_settings').select(['id', 'status', 'recovery_generation']).where('user_id', '=', scope.userId).forUpdate().executeTakeFirst();
    if (current?.status === 'active') throw new PoolerError('totp_already_enabled', 'two-factor authentication is already enabled; disable it first to enroll a new authenticator');
    const values = { secret_ciphertext: sealed.ciphertext, secret_nonce: sealed.nonce, secret_key_version: sealed.keyVersion, status: 'pending' as const, enrolled_at: null, verified_at: null, disabled_at: null, last_used_time_step: null, updated_at: now };
    const settingId = current
      ? (await tx.updateTable('totp_settings').set({ ...values, recovery_generation: current.recovery_generation + 1 }).where('id', '=', current.id).returning('id').executeTakeFirstOrThrow()).id
      : (await tx.insertInto('totp_settings').values({ user_id: scope.userId, ...values }).returning('id').executeTakeFirstOrThrow()).id;
    const codes = await issueRecoveryCodes(tx, scope.userId, settingId, now);
    await recordAudit(tx, { actor: actorOf(scope), action: 'auth.totp_enrollment_started', targetType: 'user', targetId: scope.userId });
    return codes;
  });
  return { secret, otpauthUri: totpUri(secret, scope.email), recoveryCodes };
}

/** Activates a pending enrollment once the authenticator shows a valid code. */
export async function confirmTotpEnrollment(deps: AuthDeps, scope: OperatorScope, code: unknown): Promise<void> {
  if (typeof code !== 'string' || !code.trim()) throw invalidInput('code is required', 'code');
  const now = nowOf(deps);
  await deps.db.transaction().execute(async (tx) => {
    const setting = await tx
      .selectFrom('totp_settings')
      .select(['id', 'status', 'secret_ciphertext', 'secret_nonce', 'secret_key_version', 'last_used_time_step', 'recovery_generation'])
      .where('user_id', '=', scope.userId)
      .forUpdate()
      .executeTakeFirst();
    if (!setting || setting.status === 'disabled') throw new PoolerError('totp_not_enabled', 'start the enrollment first');
    if (setting.status === 'active') throw new PoolerError('totp_already_enabled');
    if (!(await acceptTotpCode(tx, deps.totpKeyring, setting, code, now))) throw new PoolerError('totp_invalid', undefined, { status: 422, param: 'code' });
    await tx.updateTable('totp_settings').set({ status: 'active', enrolled_at: now, verified_at: now, updated_at: now }).where('id', '=', setting.id).execute();
    // The session that proved the code counts as having passed the second factor.
    if (scope.sessionId) await tx.updateTable('sessions').set({ mfa_verified: true }).where('id', '=', scope.sessionId).execute();
    await recordAudit(tx, { actor: actorOf(scope), action: 'auth.totp_enrolled', targetType: 'user', targetId: scope.userId, details: { recovery_generation: setting.recovery_generation } });
  });
}

/** Turns the operator's own TOTP off; needs a current code or an unused recovery code. */
export async function disableOwnTotp(deps: AuthDeps, scope: OperatorScope, factor: SecondFactor): Promise<void> {
  if (!hasSecondFactor(factor)) throw invalidInput('give the current code from your authenticator (or a recovery code)', 'code');
  const state = await totpState(deps, scope.userId);
  if (state.status !== 'active') throw new PoolerError('totp_not_enabled');
  const now = nowOf(deps);
  const actor = { type: 'user' as const, userId: scope.userId, label: scope.email, context: scope.context };
  if (!(await verifySecondFactor(deps.db, deps.totpKeyring, actor, factor, now))) throw new PoolerError('totp_invalid', undefined, { status: 422, param: 'code' });
  await deps.db.transaction().execute(async (tx) => {
    await disableTotpRows(tx, scope.userId, now);
    await recordAudit(tx, { actor: actorOf(scope), action: 'auth.totp_disabled', targetType: 'user', targetId: scope.userId });
  });
}

/** An owner resets another operator's TOTP (lost authenticator); audited as `operator.totp_reset`. */
export async function resetOperatorTotp(deps: AuthDeps, scope: OperatorScope, userId: string): Promise<void> {
  authorize(scope, 'operator.manage');
  const now = nowOf(deps);
  await deps.db.transaction().execute(async (tx) => {
    const user = await tx.selectFrom('users').select(['id', 'email']).where('id', '=', userId).where('deleted_at', 'is', null).executeTakeFirst();
    if (!user) throw new PoolerError('not_found', 'operator does not exist', { param: 'id' });
    const changed = await disableTotpRows(tx, userId, now);
    if (!changed) throw new PoolerError('totp_not_enabled', 'this operator has no two-factor authentication to reset');
    await recordAudit(tx, { actor: actorOf(scope), action: 'operator.totp_reset', targetType: 'user', targetId: userId, details: { email: user.email } });
  });
}

async function disableTotpRows(tx: Parameters<typeof issueRecoveryCodes>[0], userId: string, now: Date): Promise<boolean> {
  const result = await tx.updateTable('totp_settings').set({ status: 'disabled', disabled_at: now, updated_at: now }).where('user_id', '=', userId).where('status', '<>', 'disabled').executeTakeFirst();
  await tx.updateTable('recovery_codes').set({ status: 'revoked', updated_at: now }).where('user_id', '=', userId).where('status', '=', 'active').execute();
  return Number(result.numUpdatedRows) > 0;
}
