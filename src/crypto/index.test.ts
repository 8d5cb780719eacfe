import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import * as crypto from './index.ts';

describe('crypto public API', () => {
  test('re-exports a working end-to-end surface', () => {
    const keyring = crypto.createKeyring({ version: 'v1', key: crypto.parseKeyMaterial('K', randomBytes(32).toString('base64')) });
    expect(crypto.openJsonEnvelope(keyring, crypto.sealJsonEnvelope(keyring, 's', { secret_kind: 'x' }))).toBe('s');
    const minted = crypto.mintPoolApiKey();
    const parsed = crypto.parsePresentedKey(minted.key);
    expect(parsed && crypto.digestMatches(parsed.secret, minted.secretDigest)).toBe(true);
    for (const name of ['hashPassword', 'verifyPassword', 'verifyTotpCode', 'signPayload', 'verifySignature', 'mintRecoveryCode']) {
      expect(typeof (crypto as Record<string, unknown>)[name]).toBe('function');
    }
  });
});
