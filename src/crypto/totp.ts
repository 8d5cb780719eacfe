// TOTP enrolment and verification (RFC 6238: SHA-1, 6 digits, 30 s), with the
// shared secret sealed in the versioned secret box (spec §3.2, §13).

import { generateSecret, generateURI, verifySync } from 'otplib';
import type { Keyring } from './keyring.ts';
import { openSecret, sealSecret, SECRET_ALGORITHM } from './secret-box.ts';
import type { SealedSecret } from './secret-box.ts';

const PERIOD_SECONDS = 30;
const TOTP_PURPOSE = { purpose: 'totp' } as const;

export function generateTotpSecret(): string {
  return generateSecret(); // 20 random bytes, base32
}

export function sealTotpSecret(keyring: Keyring, secretBase32: string): SealedSecret {
  return sealSecret(keyring, secretBase32, TOTP_PURPOSE);
}

/**
 * The TOTP AAD is fully determined by the key version, so callers only need to
 * store version, nonce and ciphertext; the AAD is rebuilt here.
 */
export function openTotpSecret(keyring: Keyring, sealed: Pick<SealedSecret, 'keyVersion' | 'nonce' | 'ciphertext'>): string {
  const aad = { ...TOTP_PURPOSE, algorithm: SECRET_ALGORITHM, key_version: sealed.keyVersion };
  return openSecret(keyring, { keyVersion: sealed.keyVersion, nonce: sealed.nonce, ciphertext: sealed.ciphertext, aad });
}

/** Accepts the current step and one step either side to absorb clock drift. */
export function verifyTotpCode(secretBase32: string, code: string, now: Date = new Date()): boolean {
  return totpTimeStep(secretBase32, code, now) !== null;
}

/**
 * Like `verifyTotpCode`, but answers the RFC 6238 time step the code belongs to (or null), so a
 * caller can refuse a code whose step was already used (replay protection).
 */
export function totpTimeStep(secretBase32: string, code: string, now: Date = new Date()): number | null {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  try {
    const result = verifySync({
      secret: secretBase32,
      token,
      epoch: Math.floor(now.getTime() / 1000),
      epochTolerance: PERIOD_SECONDS,
    });
    return result.valid && 'timeStep' in result ? result.timeStep : null;
  } catch {
    // Malformed or too-short secrets are a failed verification, not a crash.
    return null;
  }
}

export function totpUri(secretBase32: string, email: string, issuer = 'Codex Pooler'): string {
  return generateURI({ issuer, label: email, secret: secretBase32 });
}
