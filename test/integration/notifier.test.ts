import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
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
});
