import { recordAudit, type Actor } from '../audit/index.ts';
import { mintRecoveryCode, openTotpSecret, recoveryCodeDigest, totpTimeStep, type Keyring } from '../crypto/index.ts';
import type { Db, Tx } from '../db/index.ts';

export const RECOVERY_CODE_COUNT = 10;

/** What an operator presents as the second factor: a 6-digit code or one recovery code. */
export type SecondFactor = { totpCode?: string | null; recoveryCode?: string | null };

export const hasSecondFactor = (factor: SecondFactor): boolean => Boolean(factor.totpCode?.trim() || factor.recoveryCode?.trim());

type TotpRow = { id: string; secret_ciphertext: Buffer; secret_nonce: Buffer; secret_key_version: string; last_used_time_step: string | number | null };

/**
 * Checks a TOTP code against a setting and, when it matches a step not used before, records that
 * step (a code is accepted once). Used for sign-in, confirmation and disabling.
 */
export async function acceptTotpCode(tx: Tx, keyring: Keyring, setting: TotpRow, code: string, now: Date): Promise<boolean> {
  const secret = openTotpSecret(keyring, { keyVersion: setting.secret_key_version, nonce: setting.secret_nonce, ciphertext: setting.secret_ciphertext });
  const step = totpTimeStep(secret, code, now);
  if (step === null) return false;
  if (setting.last_used_time_step !== null && step <= Number(setting.last_used_time_step)) return false;
  await tx.updateTable('totp_settings').set({ last_used_time_step: step, updated_at: now }).where('id', '=', setting.id).execute();
  return true;
}

/**
 * Verifies an operator's second factor against their active TOTP setting. A recovery code is
 * spent on success (`auth.recovery_code_used`). Answers false for anything else, including an
 * operator without active TOTP.
 */
export async function verifySecondFactor(db: Db, keyring: Keyring, actor: Actor & { type: 'user' }, factor: SecondFactor, now: Date): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const setting = await tx
      .selectFrom('totp_settings')
      .select(['id', 'secret_ciphertext', 'secret_nonce', 'secret_key_version', 'last_used_time_step'])
      .where('user_id', '=', actor.userId)
      .where('status', '=', 'active')
      .forUpdate()
      .executeTakeFirst();
    if (!setting) return false;
    const totpCode = factor.totpCode?.trim();
    if (totpCode) return acceptTotpCode(tx, keyring, setting, totpCode, now);
    const recoveryCode = factor.recoveryCode?.trim();
    if (!recoveryCode || recoveryCode.length > 64) return false;
    const used = await tx
      .updateTable('recovery_codes')
      .set({ status: 'used', used_at: now, updated_at: now })
      .where('user_id', '=', actor.userId)
      .where('totp_setting_id', '=', setting.id)
      .where('code_hash', '=', recoveryCodeDigest(recoveryCode))
      .where('status', '=', 'active')
      .returning('id')
      .executeTakeFirst();
    if (!used) return false;
    const remaining = await tx.selectFrom('recovery_codes').select(tx.fn.countAll<string>().as('n')).where('totp_setting_id', '=', setting.id).where('status', '=', 'active').executeTakeFirstOrThrow();
    await recordAudit(tx, { actor, action: 'auth.recovery_code_used', targetType: 'user', targetId: actor.userId, details: { remaining_recovery_codes: Number(remaining.n) } });
    return true;
  });
}

/** Replaces a setting's recovery codes with a fresh set; answers the raw codes (shown once). */
export async function issueRecoveryCodes(tx: Tx, userId: string, settingId: string, now: Date): Promise<string[]> {
  await tx.updateTable('recovery_codes').set({ status: 'revoked', updated_at: now }).where('user_id', '=', userId).where('status', '=', 'active').execute();
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, () => mintRecoveryCode());
  await tx
    .insertInto('recovery_codes')
    .values(codes.map((code) => ({ user_id: userId, totp_setting_id: settingId, code_hash: recoveryCodeDigest(code), used_at: null })))
    .execute();
  return codes;
}
