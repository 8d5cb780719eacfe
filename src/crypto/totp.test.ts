import { randomBytes } from 'node:crypto';
import { generateSync } from 'otplib';
import { describe, expect, test } from 'vitest';
import { createKeyring } from './keyring.ts';
import { SecretBoxError } from './secret-box.ts';
import { generateTotpSecret, openTotpSecret, sealTotpSecret, totpUri, verifyTotpCode } from './totp.ts';

// Middle of a 30 s step so ±1 step boundaries are unambiguous.
const NOW = new Date(1_700_000_025_000);
const at = (secret: string, offsetSeconds: number) =>
  generateSync({ secret, epoch: Math.floor(NOW.getTime() / 1000) + offsetSeconds });

describe('TOTP', () => {
  test('generates base32 secrets of at least 160 bits', () => {
    const secret = generateTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32,}$/);
    expect(generateTotpSecret()).not.toBe(secret);
  });

  test('accepts the current code and one step either side, nothing further', () => {
    const secret = generateTotpSecret();
    expect(verifyTotpCode(secret, at(secret, 0), NOW)).toBe(true);
    expect(verifyTotpCode(secret, at(secret, -30), NOW)).toBe(true);
    expect(verifyTotpCode(secret, at(secret, 30), NOW)).toBe(true);
    // Codes can collide by chance across steps; only assert rejection when distinct.
    for (const offset of [-60, 60, -90]) {
      const code = at(secret, offset);
      if (![at(secret, -30), at(secret, 0), at(secret, 30)].includes(code)) {
        expect(verifyTotpCode(secret, code, NOW)).toBe(false);
      }
    }
  });

  test('rejects wrong secrets and malformed codes without throwing', () => {
    const secret = generateTotpSecret();
    const code = at(secret, 0);
    expect(verifyTotpCode(secret, code.replace(/^./, (d) => String((Number(d) + 1) % 10)), NOW)).toBe(false);
    expect(verifyTotpCode(secret, `${code.slice(0, 3)} ${code.slice(3)}`, NOW)).toBe(true);
    for (const bad of ['', '12345', '1234567', 'abcdef', '12345a']) expect(verifyTotpCode(secret, bad, NOW)).toBe(false);
    expect(verifyTotpCode('not base32 !!', '123456', NOW)).toBe(false);
    expect(verifyTotpCode('JBSWY3DPEHPK3PXP', '123456', NOW)).toBe(false); // too short for otplib guardrails
  });

  test('sealed secrets round-trip and are bound to the totp purpose', () => {
    const keyring = createKeyring({ version: 't1', key: randomBytes(32) });
    const secret = generateTotpSecret();
    const sealed = sealTotpSecret(keyring, secret);
    expect(sealed.aad).toEqual({ purpose: 'totp', algorithm: 'AES-256-GCM', key_version: 't1' });
    expect(openTotpSecret(keyring, sealed)).toBe(secret);
    // Only version, nonce and ciphertext need storing.
    expect(openTotpSecret(keyring, { keyVersion: sealed.keyVersion, nonce: sealed.nonce, ciphertext: sealed.ciphertext })).toBe(secret);

    const ciphertext = Buffer.from(sealed.ciphertext);
    ciphertext[ciphertext.length - 1]! ^= 1;
    expect(() => openTotpSecret(keyring, { ...sealed, ciphertext })).toThrow(SecretBoxError);
  });

  test('a secret sealed for another purpose does not open as a TOTP secret', async () => {
    const { sealSecret } = await import('./secret-box.ts');
    const keyring = createKeyring({ version: 't1', key: randomBytes(32) });
    const other = sealSecret(keyring, generateTotpSecret(), { purpose: 'smtp' });
    expect(() => openTotpSecret(keyring, other)).toThrow(SecretBoxError);
  });

  test('builds an otpauth URI with issuer and label', () => {
    const uri = new URL(totpUri('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 'ops@example.com'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Codex Pooler:ops@example.com');
    expect(uri.searchParams.get('secret')).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    expect(uri.searchParams.get('issuer')).toBe('Codex Pooler');
    expect(new URL(totpUri('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 'a@b.c', 'Acme')).searchParams.get('issuer')).toBe('Acme');
  });
});
