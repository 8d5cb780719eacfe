import type { CompiledQuery, QueryResult } from 'kysely';
import { describe, expect, test, vi } from 'vitest';
import { mintPoolApiKey } from '../crypto/index.ts';
import { API_KEY_CHANNEL } from '../db/index.ts';
import { scriptedDatabase } from '../../test/support/scripted-database.ts';
import { createLocalNotifier } from '../db/notifier.ts';
import { ApiKeyCache } from './key-cache.ts';

const minted = mintPoolApiKey();
const AUTHORIZATION = `Bearer ${minted.key}`;

/**
 * A database holding one key whose status the test changes. Each key lookup reads the status when
 * it starts (like a real snapshot) and answers only when the test releases it, so a change and its
 * invalidation can land while a load is in flight.
 */
function heldKeyDatabase() {
  const state = { status: 'active' };
  const held: { status: string; release: () => void }[] = [];
  const db = scriptedDatabase(async <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
    // last_used_at bumps after a successful authentication.
    if (query.sql.startsWith('update')) return { rows: [], numAffectedRows: 0n };
    const status = state.status;
    await new Promise<void>((release) => held.push({ status, release }));
    const row = {
      id: '00000000-0000-4000-8000-000000000001',
      key_prefix: minted.prefix,
      key_hash: minted.secretDigest,
      status,
      expires_at: null,
      allowed_model_identifiers: null,
      enforced_model_identifier: null,
      maximum_reasoning_effort: null,
      enforced_reasoning_effort: null,
      enforced_service_tier: null,
      pool_id: '00000000-0000-4000-8000-000000000002',
      pool_slug: 'pool',
      pool_status: 'active',
      v1_compatibility_enabled: true,
    };
    return { rows: [row as R] };
  });
  return { db, state, held };
}

describe('ApiKeyCache', () => {
  test('a load in flight when the key is revoked is not cached, and callers after the revocation read afresh', async () => {
    const { db, state, held } = heldKeyDatabase();
    const cache = new ApiKeyCache(db);

    const before = cache.authenticate(AUTHORIZATION, 'backend');
    await vi.waitFor(() => expect(held).toHaveLength(1));
    // The key is revoked (and its prefix invalidated) while that lookup is still running.
    state.status = 'revoked';
    cache.invalidate(minted.prefix);
    const after = cache.authenticate(AUTHORIZATION, 'backend');
    await vi.waitFor(() => expect(held).toHaveLength(2));
    expect(held.map((load) => load.status)).toEqual(['active', 'revoked']);

    held[1]!.release();
    await expect(after).rejects.toMatchObject({ code: 'api_key_revoked' });
    // The stale load finishes last: its caller began before the change and may still pass...
    held[0]!.release();
    await expect(before).resolves.toMatchObject({ prefix: minted.prefix });
    // ...but it is not remembered: the next request is refused from the cache, with no new lookup.
    await expect(cache.authenticate(AUTHORIZATION, 'backend')).rejects.toMatchObject({ code: 'api_key_revoked' });
    expect(held).toHaveLength(2);
  });

  test('a change to every key (`*`) also discards the loads in flight', async () => {
    const { db, state, held } = heldKeyDatabase();
    const cache = new ApiKeyCache(db);
    const notifier = createLocalNotifier();
    await cache.listen(notifier);

    const before = cache.authenticate(AUTHORIZATION, 'backend');
    await vi.waitFor(() => expect(held).toHaveLength(1));
    state.status = 'paused';
    await notifier.publish(API_KEY_CHANNEL, '*');
    held[0]!.release();
    await expect(before).resolves.toMatchObject({ prefix: minted.prefix });

    const after = cache.authenticate(AUTHORIZATION, 'backend');
    await vi.waitFor(() => expect(held).toHaveLength(2));
    held[1]!.release();
    await expect(after).rejects.toMatchObject({ code: 'api_key_paused' });
    await notifier.close();
  });
});
