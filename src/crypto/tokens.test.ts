import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  base32Encode,
  digestMatches,
  MCP_TOKEN_PATTERN,
  mintMcpToken,
  mintOpaqueToken,
  mintPoolApiKey,
  mintRecoveryCode,
  mintTemporaryPassword,
  OPAQUE_TOKEN_PATTERN,
  opaqueTokenDigest,
  parsePresentedKey,
  parsePresentedMcpToken,
  POOL_API_KEY_PATTERN,
  RECOVERY_CODE_PATTERN,
  recoveryCodeDigest,
  sha256,
  sha256Hex,
} from './tokens.ts';

describe('hash helpers', () => {
  test('sha256 matches the known vector', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256(Buffer.from('abc')).toString('hex')).toBe(sha256Hex('abc'));
  });
});

describe('pool API keys', () => {
  test('minted keys have the spec format and the digest of the secret part', () => {
    for (let i = 0; i < 50; i++) {
      const { key, prefix, secretDigest } = mintPoolApiKey();
      expect(key).toMatch(POOL_API_KEY_PATTERN);
      expect(prefix).toMatch(/^sk-cxp-[0-9a-f]{12}$/);
      expect(key.startsWith(`${prefix}-`)).toBe(true);
      const secret = key.slice(prefix.length + 1);
      expect(secret).toHaveLength(43);
      expect(secretDigest.equals(createHash('sha256').update(secret).digest())).toBe(true);
    }
  });

  test('minted keys are unique', () => {
    const keys = new Set(Array.from({ length: 200 }, () => mintPoolApiKey().key));
    expect(keys.size).toBe(200);
  });

  test('parse → digestMatches accepts the minted key (with surrounding whitespace)', () => {
    const minted = mintPoolApiKey();
    const parsed = parsePresentedKey(`  ${minted.key}\n`);
    expect(parsed).toEqual({ prefix: minted.prefix, secret: minted.key.slice(minted.prefix.length + 1) });
    expect(digestMatches(parsed!.secret, minted.secretDigest)).toBe(true);
  });

  test('splits at the first dash so secrets containing dashes survive', () => {
    expect(parsePresentedKey('sk-cxp-0123456789ab-abc-def_-')).toEqual({ prefix: 'sk-cxp-0123456789ab', secret: 'abc-def_-' });
  });

  test('rejects junk, wrong schemes, uppercase hex and missing parts', () => {
    const secret = randomBytes(32).toString('base64url');
    const rejects = [
      '',
      '   ',
      `Bearer sk-cxp-0123456789ab-${secret}`,
      'bearer',
      `sk-cxp-0123456789AB-${secret}`,
      `sk-cxp-0123456789a-${secret}`,
      `sk-cxp-0123456789abc-${secret}`,
      `sk-cxp-0123456789zz-${secret}`,
      `sk-cxp--${secret}`,
      'sk-cxp-0123456789ab-',
      'sk-cxp-0123456789ab',
      'sk-cxp-',
      'sk-cxp',
      `sk-proj-0123456789ab-${secret}`,
      `SK-CXP-0123456789ab-${secret}`,
      `mcp-cxp-0123456789ab-${secret}`,
      `sk-cxp-0123456789ab-${'a'.repeat(600)}`,
    ];
    for (const raw of rejects) expect(parsePresentedKey(raw), raw).toBeNull();
  });

  test('digestMatches rejects a wrong secret and malformed stored digests', () => {
    const { key, prefix, secretDigest } = mintPoolApiKey();
    const secret = key.slice(prefix.length + 1);
    const flipped = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    expect(digestMatches(flipped, secretDigest)).toBe(false);
    expect(digestMatches(secret, secretDigest.subarray(0, 31))).toBe(false);
    expect(digestMatches(secret, Buffer.alloc(0))).toBe(false);
    expect(digestMatches(secret, Buffer.alloc(32))).toBe(false);
  });
});

describe('MCP tokens', () => {
  test('have their own scheme and do not parse as pool keys', () => {
    const minted = mintMcpToken();
    expect(minted.key).toMatch(MCP_TOKEN_PATTERN);
    expect(minted.prefix).toMatch(/^mcp-cxp-[0-9a-f]{12}$/);
    expect(minted.key).not.toMatch(POOL_API_KEY_PATTERN);
    expect(parsePresentedKey(minted.key)).toBeNull();
    const parsed = parsePresentedMcpToken(minted.key);
    expect(parsed?.prefix).toBe(minted.prefix);
    expect(digestMatches(parsed!.secret, minted.secretDigest)).toBe(true);
  });
});

describe('opaque tokens', () => {
  test('are base64url of 32 bytes with a matching digest', () => {
    const { token, digest } = mintOpaqueToken();
    expect(token).toMatch(OPAQUE_TOKEN_PATTERN);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(digest.equals(sha256(token))).toBe(true);
    expect(opaqueTokenDigest(` ${token}\n`).equals(digest)).toBe(true);
    expect(opaqueTokenDigest(token.toUpperCase()).equals(digest)).toBe(token === token.toUpperCase());
  });

  test('temporary passwords are base64url of 24 bytes', () => {
    const pw = mintTemporaryPassword();
    expect(pw).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(Buffer.from(pw, 'base64url')).toHaveLength(24);
  });
});

describe('recovery codes', () => {
  test('base32Encode matches RFC 4648 vectors (unpadded)', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [input, output] of vectors) expect(base32Encode(Buffer.from(input))).toBe(output);
  });

  test('have the XXXX-XXXX-XXXX shape and are unique', () => {
    const codes = Array.from({ length: 100 }, () => mintRecoveryCode());
    for (const code of codes) expect(code).toMatch(RECOVERY_CODE_PATTERN);
    expect(new Set(codes).size).toBe(100);
  });

  test('digest ignores case, dashes and surrounding whitespace', () => {
    const code = mintRecoveryCode();
    const digest = recoveryCodeDigest(code);
    expect(digest.equals(sha256(code.replaceAll('-', '')))).toBe(true);
    expect(recoveryCodeDigest(`  ${code.toLowerCase()} `).equals(digest)).toBe(true);
    expect(recoveryCodeDigest(code.replaceAll('-', '')).equals(digest)).toBe(true);
    expect(recoveryCodeDigest('AAAA-AAAA-AAAB').equals(recoveryCodeDigest('AAAA-AAAA-AAAA'))).toBe(false);
  });
});
