import { describe, expect, test } from 'vitest';
import { dummyVerify, hashPassword, validatePasswordPolicy, verifyPassword } from './passwords.ts';

describe('passwords', () => {
  test('hashes with argon2id and verifies only the right password', async () => {
    const hash = await hashPassword('correct horse battery');
    expect(hash).toMatch(/^\$argon2id\$v=19\$/);
    expect(hash).not.toContain('correct horse');
    expect(await verifyPassword(hash, 'correct horse battery')).toBe(true);
    expect(await verifyPassword(hash, 'correct horse batterY')).toBe(false);
    expect(await verifyPassword(hash, '')).toBe(false);
  });

  test('salts each hash', async () => {
    expect(await hashPassword('same password')).not.toBe(await hashPassword('same password'));
  });

  test('malformed stored hashes return false instead of throwing', async () => {
    for (const bad of ['', 'plaintext', '$argon2id$garbage', '$2b$12$abcdefghijklmnopqrstuv', '$argon2id$v=19$m=19456,t=2,p=1$short']) {
      await expect(verifyPassword(bad, 'whatever')).resolves.toBe(false);
    }
  });

  test('policy allows 8..72 characters (code points)', () => {
    expect(validatePasswordPolicy('1234567')).toMatch(/at least 8/);
    expect(validatePasswordPolicy('12345678')).toBeNull();
    expect(validatePasswordPolicy('x'.repeat(72))).toBeNull();
    expect(validatePasswordPolicy('x'.repeat(73))).toMatch(/at most 72/);
    expect(validatePasswordPolicy('😀'.repeat(8))).toBeNull(); // 16 UTF-16 units, 8 characters
    expect(validatePasswordPolicy('😀'.repeat(4))).not.toBeNull();
  });

  test('dummyVerify always fails and does real work', async () => {
    await expect(dummyVerify('anything')).resolves.toBe(false);
    const started = performance.now();
    await dummyVerify();
    // Argon2 with m=19 MiB cannot finish in well under a millisecond.
    expect(performance.now() - started).toBeGreaterThan(1);
  });
});
