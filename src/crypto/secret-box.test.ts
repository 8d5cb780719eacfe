import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { createKeyring } from './keyring.ts';
import type { Keyring } from './keyring.ts';
import {
  canonicalJson,
  openJsonEnvelope,
  openSecret,
  parseJsonEnvelope,
  sealJsonEnvelope,
  sealSecret,
  SecretBoxError,
} from './secret-box.ts';
import type { SealedSecret } from './secret-box.ts';

function ring(version = 'v1', key = randomBytes(32), previous?: string): Keyring {
  return createKeyring({ version, key }, previous);
}

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretBoxError);
    return (error as SecretBoxError).code;
  }
  throw new Error('expected a throw');
}

const AAD = { secret_kind: 'access_token', upstream_identity_id: '42', key_env: 'CODEX_POOLER_UPSTREAM_SECRET_KEY' };

describe('canonicalJson', () => {
  test('sorts keys recursively without whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  });

  test('is independent of insertion order and escapes like JSON', () => {
    expect(canonicalJson({ x: 'é"\n', a: null })).toBe(canonicalJson({ a: null, x: 'é"\n' }));
    expect(canonicalJson({ x: 'é"\n' })).toBe('{"x":"é\\"\\n"}');
  });
});

describe('sealSecret / openSecret', () => {
  test('round-trips and records algorithm and key version in the AAD', () => {
    const keyring = ring();
    const sealed = sealSecret(keyring, 'rt_secret ✓', AAD);
    expect(sealed.keyVersion).toBe('v1');
    expect(sealed.nonce).toHaveLength(12);
    expect(sealed.ciphertext.length).toBe(16 + Buffer.byteLength('rt_secret ✓'));
    expect(sealed.aad).toEqual({ ...AAD, algorithm: 'AES-256-GCM', key_version: 'v1' });
    expect(sealed.ciphertext.toString('utf8')).not.toContain('rt_secret');
    expect(openSecret(keyring, sealed)).toBe('rt_secret ✓');
  });

  test('uses a fresh nonce per seal', () => {
    const keyring = ring();
    const a = sealSecret(keyring, 'same', AAD);
    const b = sealSecret(keyring, 'same', AAD);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
  });

  test('caller cannot override algorithm or key_version', () => {
    const sealed = sealSecret(ring('v7'), 'x', { key_version: 'v0', algorithm: 'none' });
    expect(sealed.aad).toEqual({ key_version: 'v7', algorithm: 'AES-256-GCM' });
  });

  test('detects a flipped ciphertext byte, tag byte or nonce byte', () => {
    const keyring = ring();
    const sealed = sealSecret(keyring, 'hello world', AAD);
    for (const index of [0, 15, 16, sealed.ciphertext.length - 1]) {
      const ciphertext = Buffer.from(sealed.ciphertext);
      ciphertext[index]! ^= 0x01;
      expect(errorCode(() => openSecret(keyring, { ...sealed, ciphertext }))).toBe('decrypt_failed');
    }
    const nonce = Buffer.from(sealed.nonce);
    nonce[0]! ^= 0x80;
    expect(errorCode(() => openSecret(keyring, { ...sealed, nonce }))).toBe('decrypt_failed');
  });

  test('detects a changed, added or removed AAD field', () => {
    const keyring = ring();
    const sealed = sealSecret(keyring, 'hello', AAD);
    const variants: Record<string, string>[] = [
      { ...sealed.aad, upstream_identity_id: '43' },
      { ...sealed.aad, extra: '1' },
      Object.fromEntries(Object.entries(sealed.aad).filter(([k]) => k !== 'secret_kind')),
    ];
    for (const aad of variants) {
      expect(errorCode(() => openSecret(keyring, { ...sealed, aad }))).toBe('decrypt_failed');
    }
  });

  test('enforces expected AAD context', () => {
    const keyring = ring();
    const sealed = sealSecret(keyring, 'hello', AAD);
    expect(openSecret(keyring, sealed, { upstream_identity_id: '42' })).toBe('hello');
    expect(errorCode(() => openSecret(keyring, sealed, { upstream_identity_id: '43' }))).toBe('aad_mismatch');
  });

  test('unknown key version and wrong key are distinct failures', () => {
    const sealed = sealSecret(ring('v1'), 'hello', AAD);
    expect(errorCode(() => openSecret(ring('v2'), sealed))).toBe('unknown_key_version');
    expect(errorCode(() => openSecret(ring('v1'), sealed))).toBe('decrypt_failed');
    // Relabelling the envelope to another version the ring knows still fails.
    const both = ring('v2', randomBytes(32), `v1:${randomBytes(32).toString('base64')}`);
    expect(errorCode(() => openSecret(both, { ...sealed, keyVersion: 'v2' }))).toBe('decrypt_failed');
  });

  test('rejects truncated envelopes', () => {
    const keyring = ring();
    const sealed = sealSecret(keyring, 'hello', AAD);
    expect(errorCode(() => openSecret(keyring, { ...sealed, ciphertext: sealed.ciphertext.subarray(0, 10) }))).toBe('decrypt_failed');
    expect(errorCode(() => openSecret(keyring, { ...sealed, nonce: sealed.nonce.subarray(0, 8) }))).toBe('decrypt_failed');
  });

  test('error messages never contain plaintext or key material', () => {
    const key = randomBytes(32);
    const keyring = ring('v1', key);
    const sealed = sealSecret(keyring, 'super-secret-plaintext', AAD);
    const ciphertext = Buffer.from(sealed.ciphertext);
    ciphertext[20]! ^= 1;
    try {
      openSecret(keyring, { ...sealed, ciphertext });
      throw new Error('expected a throw');
    } catch (error) {
      const message = String((error as Error).message);
      expect(message).not.toContain('super-secret-plaintext');
      expect(message).not.toContain(key.toString('base64'));
      expect(message).not.toContain(key.toString('hex'));
    }
  });

  test('rotation: v1 ciphertexts open under a v2 ring that keeps v1; new seals use v2', () => {
    const v1Key = randomBytes(32);
    const oldSealed = sealSecret(ring('v1', v1Key), 'legacy', AAD);
    const rotated = ring('v2', randomBytes(32), `v1:${v1Key.toString('base64')}`);
    expect(openSecret(rotated, oldSealed)).toBe('legacy');

    const resealed: SealedSecret = sealSecret(rotated, openSecret(rotated, oldSealed), AAD);
    expect(resealed.keyVersion).toBe('v2');
    expect(resealed.aad.key_version).toBe('v2');
    expect(openSecret(rotated, resealed)).toBe('legacy');
    // Once v1 is dropped the old envelope is unreadable, the re-sealed one is not.
    const v2Only = createKeyring({ version: 'v2', key: rotated.keys.get('v2')! });
    expect(errorCode(() => openSecret(v2Only, oldSealed))).toBe('unknown_key_version');
    expect(openSecret(v2Only, resealed)).toBe('legacy');
  });
});

describe('JSON envelopes', () => {
  test('round-trip through the portable string form', () => {
    const keyring = ring('v3');
    const envelope = sealJsonEnvelope(keyring, 'smtp-password', { secret_kind: 'smtp_password' });
    const parsed = JSON.parse(envelope) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['v', 'kv', 'n', 'c', 'aad']);
    expect(parsed.v).toBe(1);
    expect(parsed.kv).toBe('v3');
    expect(Buffer.from(parsed.n as string, 'base64')).toHaveLength(12);
    expect(parsed.aad).toEqual({ secret_kind: 'smtp_password', algorithm: 'AES-256-GCM', key_version: 'v3' });
    expect(envelope).not.toContain('smtp-password');
    expect(openJsonEnvelope(keyring, envelope)).toBe('smtp-password');
    expect(openJsonEnvelope(keyring, envelope, { secret_kind: 'smtp_password' })).toBe('smtp-password');
  });

  test('tampering with the string form fails', () => {
    const keyring = ring();
    const envelope = JSON.parse(sealJsonEnvelope(keyring, 'abc', { secret_kind: 'k' })) as Record<string, unknown>;
    const swappedAad = JSON.stringify({ ...envelope, aad: { ...(envelope.aad as object), secret_kind: 'other' } });
    expect(errorCode(() => openJsonEnvelope(keyring, swappedAad))).toBe('decrypt_failed');
    const c = Buffer.from(envelope.c as string, 'base64');
    c[c.length - 1]! ^= 1;
    expect(errorCode(() => openJsonEnvelope(keyring, JSON.stringify({ ...envelope, c: c.toString('base64') })))).toBe('decrypt_failed');
  });

  test('malformed envelopes are reported as such', () => {
    const keyring = ring();
    for (const bad of ['not json', 'null', '[]', '{"v":2,"kv":"v1","n":"","c":"","aad":{}}', '{"v":1,"kv":"v1","n":"","c":"","aad":{"a":1}}']) {
      expect(errorCode(() => openJsonEnvelope(keyring, bad))).toBe('malformed_envelope');
    }
    expect(() => parseJsonEnvelope('{}')).toThrow(SecretBoxError);
  });
});
