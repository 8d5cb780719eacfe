import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { scriptedDatabase } from '../../test/support/scripted-database.ts';
import { defaultInstanceSettings } from './instance-settings.ts';
import { InstanceSettingsCache, SETTINGS_REFRESH_MS } from './settings-cache.ts';

describe('InstanceSettingsCache', () => {
  test('answers from memory: defaults first, the stored values once read, re-read after a minute, the last good values when a read fails', async () => {
    let stored: Record<string, unknown> = { retention: { request_logs_days: 7 } };
    let fail = false;
    let reads = 0;
    const db = scriptedDatabase(async (query) => {
      reads++;
      if (fail) throw new Error('connection refused');
      expect(query.sql).toContain('instance_settings');
      return { rows: [{ settings: stored } as never] };
    });
    let now = 1_000_000;
    const cache = new InstanceSettingsCache(db, pino({ level: 'silent' }), defaultInstanceSettings(), () => now);
    expect(cache.current.retention.request_logs_days).toBe(30);
    await cache.refresh();
    expect(cache.current.retention.request_logs_days).toBe(7);

    stored = { retention: { request_logs_days: 3 } };
    now += SETTINGS_REFRESH_MS - 1;
    expect(cache.current.retention.request_logs_days).toBe(7);
    expect(reads).toBe(1);
    now += 1;
    cache.current;
    await cache.refresh();
    expect(cache.current.retention.request_logs_days).toBe(3);

    fail = true;
    await cache.refresh();
    expect(cache.current.retention.request_logs_days).toBe(3);
  });
});
