import { describe, expect, test } from 'vitest';
import { ITEM_MAX_BYTES, ReplayedItemStore } from './item-store.ts';

const reasoning = (id: string, pad = 0) => ({ id, type: 'reasoning', summary: [], encrypted_content: `gAAAAA${'x'.repeat(pad)}` });
/** What the store counts for an item: two bytes per UTF-16 code unit of its JSON. */
const sizeOf = (item: object) => JSON.stringify(item).length * 2;

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
    expect(store.size).toEqual({ items: 1, bytes: sizeOf(reasoning('rs_2')) });
    expect(store.bytesOf('key-a')).toBe(sizeOf(reasoning('rs_2')));
  });

  test('counts two bytes per UTF-16 code unit, whatever the text', () => {
    const store = new ReplayedItemStore();
    const latin = { id: 'msg_1', type: 'message', content: [{ type: 'output_text', text: 'hello' }] };
    const cjk = { id: 'msg_2', type: 'message', content: [{ type: 'output_text', text: '你好世界!' }] };
    store.remember('key-a', latin);
    expect(store.size.bytes).toBe(JSON.stringify(latin).length * 2);
    store.remember('key-a', cjk);
    expect(store.size.bytes).toBe((JSON.stringify(latin).length + JSON.stringify(cjk).length) * 2);
    // UTF-8 would have counted the CJK text at three bytes a character and the ASCII at one.
    expect(store.size.bytes).not.toBe(Buffer.byteLength(JSON.stringify(latin)) + Buffer.byteLength(JSON.stringify(cjk)));
  });

  test('keeps the total size under the bound by evicting the oldest first', () => {
    const one = sizeOf(reasoning('rs_1', 100));
    // Four items fit; each key may hold one (a quarter).
    const store = new ReplayedItemStore({ maxBytes: one * 4 });
    for (const [i, key] of ['key-a', 'key-b', 'key-c', 'key-d', 'key-e'].entries()) store.remember(key, reasoning(`rs_${i + 1}`, 100));
    expect(store.lookup('key-a', 'rs_1')).toBeUndefined();
    for (const [i, key] of ['key-b', 'key-c', 'key-d', 'key-e'].entries()) expect(store.lookup(key, `rs_${i + 2}`)).toBeDefined();
    expect(store.size).toEqual({ items: 4, bytes: one * 4 });
  });

  test('a key past its quarter of the budget loses its own oldest items, not other keys\' items', () => {
    const one = sizeOf(reasoning('rs_10', 100));
    const store = new ReplayedItemStore({ maxBytes: one * 8 });
    store.remember('quiet', reasoning('rs_q1', 100));
    store.remember('quiet', reasoning('rs_q2', 100));
    for (let i = 10; i < 30; i++) store.remember('busy', reasoning(`rs_${i}`, 100));
    // The busy key keeps only its two newest (a quarter of eight items' worth).
    expect(store.bytesOf('busy')).toBe(one * 2);
    expect(store.lookup('busy', 'rs_28')).toBeDefined();
    expect(store.lookup('busy', 'rs_29')).toBeDefined();
    expect(store.lookup('busy', 'rs_27')).toBeUndefined();
    expect(store.lookup('busy', 'rs_10')).toBeUndefined();
    // The quiet key's older items survive all of that.
    expect(store.lookup('quiet', 'rs_q1')).toBeDefined();
    expect(store.lookup('quiet', 'rs_q2')).toBeDefined();
    expect(store.size.items).toBe(4);
  });

  test('a newer copy of an item replaces it and counts once', () => {
    const store = new ReplayedItemStore();
    store.remember('key-a', reasoning('rs_1', 10));
    store.remember('key-a', reasoning('rs_1', 20));
    expect(store.size).toEqual({ items: 1, bytes: sizeOf(reasoning('rs_1', 20)) });
    expect(store.bytesOf('key-a')).toBe(sizeOf(reasoning('rs_1', 20)));
    expect(store.lookup('key-a', 'rs_1')).toEqual(reasoning('rs_1', 20));
  });

  test('an item larger than 1 MiB is not kept (and evicts nothing)', () => {
    const store = new ReplayedItemStore();
    store.remember('key-a', reasoning('rs_1'));
    const big = reasoning('rs_big', ITEM_MAX_BYTES / 2);
    expect(sizeOf(big)).toBeGreaterThan(ITEM_MAX_BYTES);
    store.remember('key-a', big);
    expect(store.lookup('key-a', 'rs_big')).toBeUndefined();
    expect(store.lookup('key-a', 'rs_1')).toBeDefined();
    expect(store.size.items).toBe(1);
    // Just under the limit is kept.
    const fits = reasoning('rs_fits', ITEM_MAX_BYTES / 2 - 100);
    expect(sizeOf(fits)).toBeLessThanOrEqual(ITEM_MAX_BYTES);
    store.remember('key-a', fits);
    expect(store.lookup('key-a', 'rs_fits')).toBeDefined();
  });

  test('an item larger than a key\'s share of a small budget is not kept (and evicts nothing)', () => {
    const store = new ReplayedItemStore({ maxBytes: 800 });
    store.remember('key-a', reasoning('rs_1'));
    store.remember('key-a', reasoning('rs_big', 100));
    expect(store.lookup('key-a', 'rs_big')).toBeUndefined();
    expect(store.lookup('key-a', 'rs_1')).toBeDefined();
  });

  test('never keeps image generation calls, and a newer one drops an older copy of the id', () => {
    const store = new ReplayedItemStore();
    const image = { id: 'ig_1', type: 'image_generation_call', status: 'completed', result: 'iVBORw0KGgo=' };
    store.remember('key-a', image);
    expect(store.lookup('key-a', 'ig_1')).toBeUndefined();
    expect(store.size).toEqual({ items: 0, bytes: 0 });
    store.remember('key-a', { id: 'ig_2', type: 'message', content: [] });
    store.remember('key-a', { ...image, id: 'ig_2' });
    expect(store.lookup('key-a', 'ig_2')).toBeUndefined();
  });

  test('a zero budget keeps nothing', () => {
    const store = new ReplayedItemStore({ maxBytes: 0 });
    expect(store.enabled).toBe(false);
    store.remember('key-a', reasoning('rs_1'));
    expect(store.lookup('key-a', 'rs_1')).toBeUndefined();
    expect(store.size).toEqual({ items: 0, bytes: 0 });
    expect(new ReplayedItemStore().enabled).toBe(true);
  });
});
