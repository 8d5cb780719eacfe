// Keys derived from SECRET_KEY_BASE for signing (cookies, CSRF, internal peer
// requests). SECRET_KEY_BASE never encrypts data at rest (spec §3.5).

import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

const SIGNATURE_BYTES = 32;
const SIGNATURE_SHAPE = /^[A-Za-z0-9_-]{43}$/;
// Fixed salt domain-separates our derivations from any other use of the base.
const HKDF_SALT = 'codex-pooler/v1';

/** HKDF-SHA256: one independent 32-byte key per purpose string. */
export function deriveKey(secretKeyBase: string, purpose: string): Buffer {
  if (secretKeyBase.length === 0) throw new Error('secret key base must not be empty');
  if (purpose.length === 0) throw new Error('key purpose must not be empty');
  return Buffer.from(hkdfSync('sha256', secretKeyBase, HKDF_SALT, purpose, SIGNATURE_BYTES));
}

/** Length-prefix every part so ["ab","c"] and ["a","bc"] sign differently. */
function encodeParts(parts: readonly string[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const bytes = Buffer.from(part, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    chunks.push(length, bytes);
  }
  return Buffer.concat(chunks);
}

/** HMAC-SHA256 over the parts, as base64url without padding (43 chars). */
export function signPayload(key: Buffer, parts: readonly string[]): string {
  return createHmac('sha256', key).update(encodeParts(parts)).digest('base64url');
}

export function verifySignature(key: Buffer, parts: readonly string[], signature: string): boolean {
  if (typeof signature !== 'string' || !SIGNATURE_SHAPE.test(signature)) return false;
  const presented = Buffer.from(signature, 'base64url');
  const expected = createHmac('sha256', key).update(encodeParts(parts)).digest();
  if (presented.length !== expected.length) return false;
  return timingSafeEqual(presented, expected);
}
