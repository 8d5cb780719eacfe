import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { ConfigKeyError, createKeyring, parseKeyMaterial } from './keyring.ts';

const VAR = 'CODEX_POOLER_UPSTREAM_SECRET_KEY';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('parseKeyMaterial', () => {
  test('uses exactly 32 raw bytes as-is', () => {
    const raw = 'abcdefghijklmnopqrstuvwxyz012345';
    expect(parseKeyMaterial(VAR, raw).equals(Buffer.from(raw, 'utf8'))).toBe(true);
  });

  test('decodes base64 and base64url (padded or not) of 32 bytes', () => {
    const key = Buffer.from('fb'.repeat(32), 'hex'); // 0xfb bytes exercise +/ vs -_
    expect(parseKeyMaterial(VAR, key.toString('base64')).equals(key)).toBe(true);
    expect(parseKeyMaterial(VAR, key.toString('base64url')).equals(key)).toBe(true);
    expect(parseKeyMaterial(VAR, `${key.toString('base64')}\n`).equals(key)).toBe(true);
  });

  test('rejects base64 of 31 or 33 bytes, naming the variable and not echoing the value', () => {
    for (const size of [31, 33]) {
      const value = randomBytes(size).toString('base64');
      const error = thrown(() => parseKeyMaterial(VAR, value));
      expect(error).toBeInstanceOf(ConfigKeyError);
      expect((error as ConfigKeyError).variable).toBe(VAR);
      expect((error as Error).message).toBe(`${VAR} must be 32 raw bytes or base64-encoded 32 bytes`);
      expect((error as Error).message).not.toContain(value);
    }
  });

  test('rejects empty, 31 raw bytes and non-base64 junk', () => {
    expect(() => parseKeyMaterial(VAR, '')).toThrow(ConfigKeyError);
    expect(() => parseKeyMaterial(VAR, 'a'.repeat(31))).toThrow(ConfigKeyError);
    // 44 chars of which some are outside the alphabet: Node would skip them silently.
    expect(() => parseKeyMaterial(VAR, `${'A'.repeat(40)}!!!=`)).toThrow(ConfigKeyError);
  });
});

describe('createKeyring', () => {
  const current = { version: 'v2', key: randomBytes(32) };
  const prevVar = 'CODEX_POOLER_UPSTREAM_SECRET_KEYS_PREVIOUS';

  test('holds current plus previous keys', () => {
    const v1 = randomBytes(32);
    const v0 = randomBytes(32);
    const ring = createKeyring(current, ` v1:${v1.toString('base64')}, v0:${v0.toString('base64url')} `, prevVar);
    expect(ring.currentVersion).toBe('v2');
    expect([...ring.keys.keys()].sort()).toEqual(['v0', 'v1', 'v2']);
    expect(ring.keys.get('v1')?.equals(v1)).toBe(true);
    expect(ring.keys.get('v0')?.equals(v0)).toBe(true);
  });

  test('without previous keys holds only the current key', () => {
    expect([...createKeyring(current).keys.keys()]).toEqual(['v2']);
    expect([...createKeyring(current, '').keys.keys()]).toEqual(['v2']);
  });

  test('previous-key errors name the previous variable', () => {
    const cases = ['v1', 'v1:', ':abc', `v1:${randomBytes(31).toString('base64')}`, `bad version:${randomBytes(32).toString('base64')}`];
    for (const previous of cases) {
      const error = thrown(() => createKeyring(current, previous, 'MY_PREVIOUS_KEYS'));
      expect(error).toBeInstanceOf(ConfigKeyError);
      expect((error as ConfigKeyError).variable).toBe('MY_PREVIOUS_KEYS');
      expect((error as Error).message).toContain('MY_PREVIOUS_KEYS');
    }
  });

  test('rejects conflicting material for one version but tolerates repeating the current key', () => {
    expect(() => createKeyring(current, `v2:${randomBytes(32).toString('base64')}`)).toThrow(/conflicting/);
    expect(createKeyring(current, `v2:${current.key.toString('base64')}`).keys.size).toBe(1);
  });

  test('rejects a malformed current version or key', () => {
    expect(() => createKeyring({ version: '', key: randomBytes(32) })).toThrow(ConfigKeyError);
    expect(() => createKeyring({ version: 'v1', key: randomBytes(16) })).toThrow(ConfigKeyError);
  });
});
