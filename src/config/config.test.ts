import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { ConfigError, parseConfig } from './config.ts';

const valid = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/codex',
  SECRET_KEY_BASE: 'k'.repeat(64),
  CODEX_POOLER_UPSTREAM_SECRET_KEY: randomBytes(32).toString('base64'),
  CODEX_POOLER_TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
};

function errorFor(env: Record<string, string | undefined>): ConfigError {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  test('defaults', () => {
    const config = parseConfig(valid);
    expect(config).toMatchObject({ port: 4000, obanMode: 'web', phxServer: false, upstreamBaseUrl: 'https://chatgpt.com', authIssuer: 'https://auth.openai.com', forceHttps: false });
    expect(config.upstreamKeyring.currentVersion).toBe('v1');
    expect(config.database).toMatchObject({ kind: 'postgres', poolSize: 10 });
  });

  test('a 32-byte raw key is accepted as is', () => {
    expect(() => parseConfig({ ...valid, CODEX_POOLER_UPSTREAM_SECRET_KEY: 'a'.repeat(32) })).not.toThrow();
  });

  test.each([
    ['missing SECRET_KEY_BASE', { SECRET_KEY_BASE: undefined }, 'SECRET_KEY_BASE', 'is required'],
    ['short SECRET_KEY_BASE', { SECRET_KEY_BASE: 'short' }, 'SECRET_KEY_BASE', 'at least 64'],
    ['malformed upstream key', { CODEX_POOLER_UPSTREAM_SECRET_KEY: 'not-base64!!' }, 'CODEX_POOLER_UPSTREAM_SECRET_KEY', '32 raw bytes'],
    ['16-byte TOTP key', { CODEX_POOLER_TOTP_ENCRYPTION_KEY: randomBytes(16).toString('base64') }, 'CODEX_POOLER_TOTP_ENCRYPTION_KEY', '32 raw bytes'],
    ['bad port', { PORT: 'eighty' }, 'PORT', 'integer'],
    ['bad database url', { DATABASE_URL: 'mysql://x' }, 'DATABASE_URL', 'postgres'],
    ['bad forwarding flag', { CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING: 'maybe' }, 'CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING', 'one of true,false'],
    ['bad upstream url', { CODEX_POOLER_UPSTREAM_BASE_URL: 'ftp://x' }, 'CODEX_POOLER_UPSTREAM_BASE_URL', 'http(s) URL'],
  ])('%s names the variable', (_name, change, variable, text) => {
    const error = errorFor({ ...valid, ...change });
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(text);
    expect(error.message).not.toContain('\n');
  });

  test('embedded mode uses generated secrets, explicit env still wins', () => {
    const embeddedSecrets = { SECRET_KEY_BASE: 'e'.repeat(88), CODEX_POOLER_UPSTREAM_SECRET_KEY: randomBytes(32).toString('base64'), CODEX_POOLER_TOTP_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    const config = parseConfig({ PORT: '4100', SECRET_KEY_BASE: 'x'.repeat(70) }, { embeddedSecrets, cwd: '/srv' });
    expect(config.database).toEqual({ kind: 'embedded', directory: '/srv/data/pgdata' });
    expect(config.secretKeyBase).toBe('x'.repeat(70));
    expect(config.port).toBe(4100);
  });

  test('OBAN_MODE and PHX_SERVER follow the chart contract', () => {
    expect(parseConfig({ ...valid, OBAN_MODE: 'worker' }).obanMode).toBe('worker');
    expect(parseConfig({ ...valid, OBAN_MODE: 'bogus' }).obanMode).toBe('web');
    expect(parseConfig({ ...valid, PHX_SERVER: '1' }).phxServer).toBe(true);
  });

  test('CODEX_POOLER_REPLAY_ITEM_CACHE_MB sets the replayed item budget in MiB; 0 turns it off', () => {
    expect(parseConfig(valid).replayItemCacheBytes).toBe(64 * 1024 * 1024);
    expect(parseConfig({ ...valid, CODEX_POOLER_REPLAY_ITEM_CACHE_MB: '8' }).replayItemCacheBytes).toBe(8 * 1024 * 1024);
    expect(parseConfig({ ...valid, CODEX_POOLER_REPLAY_ITEM_CACHE_MB: '0' }).replayItemCacheBytes).toBe(0);
    expect(errorFor({ ...valid, CODEX_POOLER_REPLAY_ITEM_CACHE_MB: '-1' }).variable).toBe('CODEX_POOLER_REPLAY_ITEM_CACHE_MB');
    expect(errorFor({ ...valid, CODEX_POOLER_REPLAY_ITEM_CACHE_MB: 'lots' }).variable).toBe('CODEX_POOLER_REPLAY_ITEM_CACHE_MB');
  });
});
