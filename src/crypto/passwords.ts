// Operator passwords: Argon2id with the library defaults (spec §3.3).

import { hash, verify } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 72;

/** @node-rs/argon2 defaults to Argon2id v1.3, m=19456, t=2, p=1. */
export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

/** Never throws: a malformed or empty stored hash simply fails verification. */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  if (typeof storedHash !== 'string' || !storedHash.startsWith('$argon2')) return false;
  try {
    return await verify(storedHash, password);
  } catch {
    return false;
  }
}

/** Returns a user-facing message, or null when the password is acceptable. Counts code points. */
export function validatePasswordPolicy(password: string): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `Password must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `Password must be at most ${PASSWORD_MAX_LENGTH} characters`;
  return null;
}

let dummyHash: Promise<string> | undefined;

/**
 * Runs a real Argon2 verification against a throwaway hash so that a login for
 * an unknown email costs about the same as one for a known email. Always false.
 */
export async function dummyVerify(password = ''): Promise<false> {
  dummyHash ??= hash(randomBytes(16).toString('base64url'));
  await verifyPassword(await dummyHash, password);
  return false;
}
