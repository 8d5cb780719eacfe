import type { CompiledQuery, QueryResult } from 'kysely';
import pino from 'pino';
import { describe, expect, test, vi } from 'vitest';
import { scriptedDatabase } from '../../test/support/scripted-database.ts';
import { createLocalNotifier } from '../db/notifier.ts';
import { RoutingState } from './routing-state.ts';

const POOL = '00000000-0000-4000-8000-000000000001';

/**
 * A pool with no accounts whose ring size the test changes; each snapshot's settings read sees the
 * value when it starts and answers only when the test releases it.
 */
function heldSettingsDatabase() {
  const state = { ringSize: 3 };
  const held: { ringSize: number; release: () => void }[] = [];
  const db = scriptedDatabase(async <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
    if (!query.sql.startsWith('select * from "pool_routing_settings"')) return { rows: [] };
    const ringSize = state.ringSize;
    await new Promise<void>((release) => held.push({ ringSize, release }));
    const row = { pool_id: POOL, routing_strategy: 'bridge_ring', bridge_ring_size: ringSize, sticky_http_sessions: false, sticky_websocket_sessions: true, prompt_cache_affinity_enabled: true, v1_compatibility_enabled: true, allow_image_generation: true };
    return { rows: [row as R] };
  });
  return { db, state, held };
}

describe('RoutingState', () => {
  test('a snapshot load in flight when the pool changes is not cached; callers after the change load afresh', async () => {
    const { db, state, held } = heldSettingsDatabase();
    const routing = new RoutingState({ db, notifier: createLocalNotifier(), log: pino({ level: 'silent' }) });

    const before = routing.settings(POOL);
    await vi.waitFor(() => expect(held).toHaveLength(1));
    state.ringSize = 5;
    routing.invalidate(POOL);
    const after = routing.settings(POOL);
    await vi.waitFor(() => expect(held).toHaveLength(2));
    held[1]!.release();
    expect((await after).ringSize).toBe(5);
    // The stale snapshot lands last; its caller may use it, but it does not replace the new one.
    held[0]!.release();
    expect((await before).ringSize).toBe(3);
    expect((await routing.settings(POOL)).ringSize).toBe(5);
    expect(held).toHaveLength(2);
  });
});
