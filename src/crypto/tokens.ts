// Credential formats from spec §3.3. Only digests are stored; presented
// credentials are parsed leniently-but-strictly and every failure reads as
// "missing" (null / false) so callers cannot leak which check failed.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const POOL_API_KEY_SCHEME = 'sk-cxp';
export const MCP_TOKEN_SCHEME = 'mcp-cxp';

export const POOL_API_KEY_PATTERN = /^sk-cxp-[0-9a-f]{12}-[A-Za-z0-9_-]{43}$/;
export const MCP_TOKEN_PATTERN = /^mcp-cxp-[0-9a-f]{12}-[A-Za-z0-9_-]{43}$/;
export const OPAQUE_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
export const RECOVERY_CODE_PATTERN = /^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$/;

const PUBLIC_PART = /^[0-9a-f]{12}$/;
// Bound the work done on attacker-supplied input; real secrets are 43 chars.
const MAX_SECRET_LENGTH = 512;

export function sha256(input: string | Buffer): Buffer {
  return createHash('sha256').update(input).digest();
}

export function sha256Hex(input: string | Buffer): string {
  return createHash('sha256').update(input).digest('hex');
}

function randomBase64Url(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

export type MintedKey = { key: string; prefix: string; secretDigest: Buffer };
export type PresentedKey = { prefix: string; secret: string };

/** `<scheme>-<12 lowercase hex>-<base64url(32 bytes)>`; prefix is the lookup handle. */
export function mintSchemeKey(scheme: string): MintedKey {
  const prefix = `${scheme}-${randomBytes(6).toString('hex')}`;
  const secret = randomBase64Url(32);
  return { key: `${prefix}-${secret}`, prefix, secretDigest: sha256(secret) };
}

export function mintPoolApiKey(): MintedKey {
  return mintSchemeKey(POOL_API_KEY_SCHEME);
}

export function mintMcpToken(): MintedKey {
  return mintSchemeKey(MCP_TOKEN_SCHEME);
}

/**
 * Splits a presented key into lookup prefix and secret. The secret is
 * base64url and may itself contain `-`, hence the split at the FIRST dash
 * after the scheme.
 */
export function parsePresentedKey(raw: string, scheme: string = POOL_API_KEY_SCHEME): PresentedKey | null {
  if (typeof raw !== 'string') return null;
  const value = raw.trim();
  const head = `${scheme}-`;
  if (!value.startsWith(head)) return null;

  const rest = value.slice(head.length);
  const dash = rest.indexOf('-');
  if (dash <= 0) return null;
  const publicPart = rest.slice(0, dash);
  const secret = rest.slice(dash + 1);
  if (!PUBLIC_PART.test(publicPart) || secret.length === 0 || secret.length > MAX_SECRET_LENGTH) return null;
  return { prefix: `${head}${publicPart}`, secret };
}

export function parsePresentedMcpToken(raw: string): PresentedKey | null {
  return parsePresentedKey(raw, MCP_TOKEN_SCHEME);
}

/** Constant-time check of SHA-256(secret) against the stored digest. */
export function digestMatches(secret: string, storedDigest: Buffer): boolean {
  const actual = sha256(secret);
  if (storedDigest.length !== actual.length) return false;
  return timingSafeEqual(actual, storedDigest);
}

/** Browser/Observatory sessions, invites, OAuth state, control tokens. */
export function mintOpaqueToken(): { token: string; digest: Buffer } {
  const token = randomBase64Url(32);
  return { token, digest: sha256(token) };
}

/** Digest of a presented opaque token; trimmed because invite links get pasted. */
export function opaqueTokenDigest(presented: string): Buffer {
  return sha256(presented.trim());
}

/** Shown once, then stored as an Argon2 hash like any password. */
export function mintTemporaryPassword(): string {
  return randomBase64Url(24);
}

// ---- Recovery codes ----------------------------------------------------------

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32, uppercase, no padding. */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(buffer >>> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

export function mintRecoveryCode(): string {
  const chars = base32Encode(randomBytes(10)).slice(0, 12);
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`;
}

/** Normalised so users may type lowercase, omit dashes or add whitespace. */
export function recoveryCodeDigest(code: string): Buffer {
  return sha256(code.trim().toUpperCase().replaceAll('-', ''));
}
