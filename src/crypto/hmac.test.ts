import { createHmac } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { deriveKey, signPayload, verifySignature } from './hmac.ts';

const BASE = 'x'.repeat(64);

describe('deriveKey', () => {
  test('is deterministic, 32 bytes, and separated by purpose and base', () => {
    const cookie = deriveKey(BASE, 'cookie');
    expect(cookie).toHaveLength(32);
    expect(deriveKey(BASE, 'cookie').equals(cookie)).toBe(true);
    expect(deriveKey(BASE, 'csrf').equals(cookie)).toBe(false);
    expect(deriveKey('y'.repeat(64), 'cookie').equals(cookie)).toBe(false);
  });

  test('refuses empty inputs', () => {
    expect(() => deriveKey('', 'cookie')).toThrow();
    expect(() => deriveKey(BASE, '')).toThrow();
  });
});

describe('signPayload / verifySignature', () => {
  const key = deriveKey(BASE, 'peer');

  test('round-trips and produces unpadded base64url HMAC-SHA256', () => {
    const sig = signPayload(key, ['GET', '/internal/x', '1700000000']);
    expect(sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(verifySignature(key, ['GET', '/internal/x', '1700000000'], sig)).toBe(true);
  });

  test('rejects changed parts, reordered parts, other keys and forged signatures', () => {
    const parts = ['a', 'b', 'c'];
    const sig = signPayload(key, parts);
    expect(verifySignature(key, ['a', 'b', 'd'], sig)).toBe(false);
    expect(verifySignature(key, ['c', 'b', 'a'], sig)).toBe(false);
    expect(verifySignature(key, ['a', 'b'], sig)).toBe(false);
    expect(verifySignature(deriveKey(BASE, 'cookie'), parts, sig)).toBe(false);
    const flipped = `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
    expect(verifySignature(key, parts, flipped)).toBe(false);
    for (const junk of ['', 'abc', `${sig}=`, `${sig}A`, sig.slice(1), `${sig.slice(0, -1)}!`]) {
      expect(verifySignature(key, parts, junk)).toBe(false);
    }
  });

  test('part boundaries are unambiguous', () => {
    const sig = signPayload(key, ['ab', 'c']);
    expect(verifySignature(key, ['a', 'bc'], sig)).toBe(false);
    expect(verifySignature(key, ['abc'], sig)).toBe(false);
    // Plain concatenation would collide; ours must not equal it.
    expect(sig).not.toBe(createHmac('sha256', key).update('abc').digest('base64url'));
  });
});
