// AES-256-GCM envelopes for secrets at rest (spec §3.1, §3.4, §13).
// The AAD travels with the ciphertext and is authenticated via its canonical
// JSON encoding, so neither the context nor the key version can be swapped.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Keyring } from './keyring.ts';

export const SECRET_ALGORITHM = 'AES-256-GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export type SecretBoxErrorCode = 'unknown_key_version' | 'decrypt_failed' | 'aad_mismatch' | 'malformed_envelope';

/** Messages carry only the code and the key version label: never key or plaintext material. */
export class SecretBoxError extends Error {
  readonly code: SecretBoxErrorCode;

  constructor(code: SecretBoxErrorCode, message: string) {
    super(message);
    this.name = 'SecretBoxError';
    this.code = code;
  }
}

export type SealedSecret = {
  keyVersion: string;
  nonce: Buffer;
  /** tag(16) || ciphertext */
  ciphertext: Buffer;
  aad: Record<string, string>;
};

/** UTF-8-ready JSON with object keys sorted recursively and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalJson((value as { toJSON: () => unknown }).toJSON());
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const body = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`)
      .join(',');
    return `{${body}}`;
  }
  const encoded = JSON.stringify(value);
  if (encoded === undefined) throw new TypeError(`canonicalJson cannot encode ${typeof value}`);
  return encoded;
}

function aadBytes(aad: Record<string, string>): Buffer {
  return Buffer.from(canonicalJson(aad), 'utf8');
}

export function sealSecret(keyring: Keyring, plaintext: string, aad: Record<string, string>): SealedSecret {
  const keyVersion = keyring.currentVersion;
  const key = keyring.keys.get(keyVersion);
  if (!key) throw new SecretBoxError('unknown_key_version', `no key configured for current version ${keyVersion}`);

  // Ours win over caller-supplied values so the AAD always reflects reality.
  const fullAad: Record<string, string> = { ...aad, algorithm: SECRET_ALGORITHM, key_version: keyVersion };
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aadBytes(fullAad));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { keyVersion, nonce, ciphertext: Buffer.concat([cipher.getAuthTag(), ct]), aad: fullAad };
}

/**
 * Decrypts with the key named by `sealed.keyVersion`. When `expected` is given,
 * each of its entries must equal the stored AAD, which binds the secret to its
 * owner (e.g. the upstream identity) so rows cannot be swapped between owners.
 */
export function openSecret(keyring: Keyring, sealed: SealedSecret, expected?: Record<string, string>): string {
  const key = keyring.keys.get(sealed.keyVersion);
  if (!key) throw new SecretBoxError('unknown_key_version', `no key configured for version ${sealed.keyVersion}`);

  if (sealed.aad.key_version !== sealed.keyVersion || sealed.aad.algorithm !== SECRET_ALGORITHM) {
    throw new SecretBoxError('decrypt_failed', 'secret envelope metadata is inconsistent');
  }
  if (expected) {
    for (const [field, value] of Object.entries(expected)) {
      if (sealed.aad[field] !== value) {
        throw new SecretBoxError('aad_mismatch', `secret envelope does not belong to this context (${field})`);
      }
    }
  }
  if (sealed.nonce.length !== NONCE_BYTES || sealed.ciphertext.length < TAG_BYTES) {
    throw new SecretBoxError('decrypt_failed', 'secret envelope is truncated');
  }

  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aadBytes(sealed.aad));
    decipher.setAuthTag(sealed.ciphertext.subarray(0, TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.ciphertext.subarray(TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    // Swallow the library error: it adds nothing and must not leak into logs.
    throw new SecretBoxError('decrypt_failed', `secret could not be decrypted with key version ${sealed.keyVersion}`);
  }
}

// ---- Portable string form for JSON columns ----------------------------------

type JsonEnvelope = { v: 1; kv: string; n: string; c: string; aad: Record<string, string> };

export function serializeJsonEnvelope(sealed: SealedSecret): string {
  const envelope: JsonEnvelope = {
    v: 1,
    kv: sealed.keyVersion,
    n: sealed.nonce.toString('base64'),
    c: sealed.ciphertext.toString('base64'),
    aad: sealed.aad,
  };
  return JSON.stringify(envelope);
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

export function parseJsonEnvelope(envelope: string): SealedSecret {
  let parsed: unknown;
  try {
    parsed = JSON.parse(envelope);
  } catch {
    throw new SecretBoxError('malformed_envelope', 'secret envelope is not valid JSON');
  }
  const e = parsed as Partial<JsonEnvelope> | null;
  if (
    e === null ||
    typeof e !== 'object' ||
    e.v !== 1 ||
    typeof e.kv !== 'string' ||
    typeof e.n !== 'string' ||
    typeof e.c !== 'string' ||
    !isStringRecord(e.aad)
  ) {
    throw new SecretBoxError('malformed_envelope', 'secret envelope has an unexpected shape');
  }
  return { keyVersion: e.kv, nonce: Buffer.from(e.n, 'base64'), ciphertext: Buffer.from(e.c, 'base64'), aad: e.aad };
}

export function sealJsonEnvelope(keyring: Keyring, plaintext: string, aad: Record<string, string>): string {
  return serializeJsonEnvelope(sealSecret(keyring, plaintext, aad));
}

export function openJsonEnvelope(keyring: Keyring, envelope: string, expected?: Record<string, string>): string {
  return openSecret(keyring, parseJsonEnvelope(envelope), expected);
}
