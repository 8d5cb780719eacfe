import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, test, vi } from 'vitest';
import { createLocalNotifier, createPostgresNotifier, type Notifier } from '../../src/db/notifier.ts';

let pool: pg.Pool;
const opened: Notifier[] = [];

beforeAll(() => {
  pool = new pg.Pool({ connectionString: inject('databaseUrl'), max: 2 });
});
afterAll(async () => {
  for (const notifier of opened) await notifier.close();
  await pool.end();
});

const postgresNotifier = () => {
  const notifier = createPostgresNotifier(pool, inject('databaseUrl'), () => {});
  opened.push(notifier);
  return notifier;
};

describe('notifier', () => {
  test('on PostgreSQL, publish resolves once this process has handled its own notification', async () => {
    const notifier = postgresNotifier();
    const seen: string[] = [];
    await notifier.subscribe('cxp_notifier_test', (payload) => seen.push(payload));
    for (let i = 0; i < 5; i++) {
      await notifier.publish('cxp_notifier_test', `change-${i}`);
      expect(seen).toContain(`change-${i}`);
    }
  });

  test('another process (a second notifier) receives it too; a channel nobody here listens on does not wait', async () => {
    const publisher = postgresNotifier();
    const other = postgresNotifier();
    const received: string[] = [];
    await other.subscribe('cxp_notifier_other', (payload) => received.push(payload));
    await publisher.publish('cxp_notifier_other', 'hello');
    await expect.poll(() => received, { timeout: 2_000 }).toEqual(['hello']);
  });

  test('in process (embedded), publish resolves after its handlers ran, never inside the publisher', async () => {
    const notifier = createLocalNotifier();
    const seen: string[] = [];
    await notifier.subscribe('cxp_local', (payload) => seen.push(payload));
    const publishing = notifier.publish('cxp_local', 'x');
    expect(seen).toEqual([]);
    await publishing;
    expect(seen).toEqual(['x']);
  });

  test('on PostgreSQL, awaitLocal false resolves once sent, without waiting for its own notification', async () => {
    // The notification is sent inside a transaction the test holds open, so it cannot come back
    // before the commit; and no clock runs, so a publisher waiting for it would never resolve.
    const sender = await pool.connect();
    const notifier = createPostgresNotifier({ query: (text: string, values: unknown[]) => sender.query(text, values) } as unknown as pg.Pool, inject('databaseUrl'), () => {});
    opened.push(notifier);
    const seen: string[] = [];
    await notifier.subscribe('cxp_notifier_nowait', (payload) => seen.push(payload));
    // Only bounds a failure (a publisher that waits would hang); the passing case never reaches it.
    const { setTimeout: realSetTimeout, clearTimeout: realClearTimeout } = globalThis;
    let bound: NodeJS.Timeout | undefined;
    try {
      await sender.query('BEGIN');
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const outcome = await Promise.race([
        notifier.publish('cxp_notifier_nowait', 'refreshed', { awaitLocal: false }).then(() => 'sent'),
        new Promise((resolve) => (bound = realSetTimeout(() => resolve('still waiting for its echo'), 5_000))),
      ]);
      vi.useRealTimers();
      expect(outcome).toBe('sent');
      expect(seen).toEqual([]);
      await sender.query('COMMIT');
      await expect.poll(() => seen, { timeout: 2_000 }).toEqual(['refreshed']);
    } finally {
      vi.useRealTimers();
      realClearTimeout(bound);
      await sender.query('COMMIT').catch(() => {});
      sender.release();
    }
  }, 10_000);

  test('in process (embedded), awaitLocal false resolves before the handlers run; they still run', async () => {
    const notifier = createLocalNotifier();
    const seen: string[] = [];
    await notifier.subscribe('cxp_local', (payload) => seen.push(payload));
    await notifier.publish('cxp_local', 'y', { awaitLocal: false });
    expect(seen).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['y']);
  });
});
