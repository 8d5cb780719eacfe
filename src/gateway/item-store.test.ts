import { describe, expect, test } from 'vitest';
import { ReplayedItemStore } from './item-store.ts';

const reasoning = (id: string, pad = 0) => ({ id, type: 'reasoning', summary: [], encrypted_content: `gAAAAA${'x'.repeat(pad)}` });
const bytesOf = (item: object) => Buffer.byteLength(JSON.stringify(item));

describe('ReplayedItemStore', () => {
  test('returns what it was given, as a fresh copy, for the same key only', () => {
    const store = new ReplayedItemStore();
    store.remember('key-a', reasoning('rs_1'));
    const first = store.lookup('key-a', 'rs_1')!;
    expect(first).toEqual(reasoning('rs_1'));
    first.encrypted_content = 'changed';
    expect(store.lookup('key-a', 'rs_1')).toEqual(reasoning('rs_1'));
    expect(store.lookup('key-b', 'rs_1')).toBeUndefined();
    expect(store.lookup('key-a', 'rs_2')).toBeUndefined();
  });

  test('ignores items without an id', () => {
    const store = new ReplayedItemStore();
    store.remember('key-a', { type: 'message', role: 'assistant', content: [] });
    store.remember('key-a', { id: '', type: 'message' });
    expect(store.size).toEqual({ items: 0, bytes: 0 });
  });

  test('forgets items after the TTL', () => {
    let now = 1_000_000;
    const store = new ReplayedItemStore({ ttlMs: 60_000, now: () => now });
    store.remember('key-a', reasoning('rs_1'));
    now += 59_999;
    expect(store.lookup('key-a', 'rs_1')).toBeDefined();
    now += 1;
    expect(store.lookup('key-a', 'rs_1')).toBeUndefined();
    expect(store.size.items).toBe(0);
  });

  test('expired items are dropped when new ones arrive, so they do not count against the bound', () => {
    let now = 0;
    const store = new ReplayedItemStore({ ttlMs: 10, now: () => now });
    store.remember('key-a', reasoning('rs_1'));
    now = 20;
    store.remember('key-a', reasoning('rs_2'));
    expect(store.size).toEqual({ items: 1, bytes: bytesOf(reasoning('rs_2')) });
  });

  test('keeps the total JSON size under the bound by evicting the oldest first', () => {
    const one = bytesOf(reasoning('rs_1', 100));
    const store = new ReplayedItemStore({ maxBytes: one * 2 });
    store.remember('key-a', reasoning('rs_1', 100));
    store.remember('key-b', reasoning('rs_2', 100));
    store.remember('key-a', reasoning('rs_3', 100));
    expect(store.lookup('key-a', 'rs_1')).toBeUndefined();
    expect(store.lookup('key-b', 'rs_2')).toBeDefined();
    expect(store.lookup('key-a', 'rs_3')).toBeDefined();
    expect(store.size).toEqual({ items: 2, bytes: one * 2 });
  });

  test('a newer copy of an item replaces it and counts once', () => {
    const store = new ReplayedItemStore();
    store.remember('key-a', reasoning('rs_1', 10));
    store.remember('key-a', reasoning('rs_1', 20));
    expect(store.size).toEqual({ items: 1, bytes: bytesOf(reasoning('rs_1', 20)) });
    expect(store.lookup('key-a', 'rs_1')).toEqual(reasoning('rs_1', 20));
  });

  test('an item larger than the whole bound is not kept (and evicts nothing)', () => {
    const store = new ReplayedItemStore({ maxBytes: 200 });
    store.remember('key-a', reasoning('rs_1'));
    store.remember('key-a', reasoning('rs_big', 500));
    expect(store.lookup('key-a', 'rs_big')).toBeUndefined();
    expect(store.lookup('key-a', 'rs_1')).toBeDefined();
  });
});
