import { describe, expect, test } from 'vitest';
import { v1ResponsesJsonRelay, v1ResponsesStreamRelay, type ClientRelay } from './client-relay.ts';
import { rememberingRelayedItems, withReplayedItems } from './item-replay.ts';
import { ReplayedItemStore } from './item-store.ts';
import { fixtureEvents, framePayloads } from './translate/fixtures.ts';

const ENCRYPTED = 'gAAAAABpZXhhbXBsZS1lbmNyeXB0ZWQtcmVhc29uaW5n';

function streamed(relay: ClientRelay): string {
  if (relay.mode !== 'stream') throw new Error('stream relay expected');
  return [...fixtureEvents('text-basic').flatMap((event) => relay.onEvent(event)), ...relay.finish()].join('');
}

describe('/v1/responses item replay around translation', () => {
  test('a client that did not ask for encrypted reasoning gets it asked for upstream, kept in the store, and hidden from its stream', () => {
    const store = new ReplayedItemStore();
    const { body, memory } = rememberingRelayedItems(store, 'key-a', { model: 'm', input: 'hi' }, { model: 'm', input: [], include: [] });
    expect(body.include).toEqual(['reasoning.encrypted_content']);
    const text = streamed(v1ResponsesStreamRelay(memory));
    expect(text).not.toContain('encrypted_content');
    const payloads = framePayloads(text.split(/(?<=\n\n)/)) as { type: string; item?: { id: string } }[];
    expect(payloads.filter((p) => p.type === 'response.output_item.done').map((p) => p.item)).toEqual([
      { id: 'rs_01', type: 'reasoning', summary: [] },
      expect.objectContaining({ id: 'msg_01', type: 'message' }),
    ]);
    expect(store.lookup('key-a', 'rs_01')).toEqual({ id: 'rs_01', type: 'reasoning', summary: [], encrypted_content: ENCRYPTED });
    expect(store.lookup('key-a', 'msg_01')).toMatchObject({ type: 'message', content: [{ type: 'output_text', text: 'Hello, world!' }] });
  });

  test('a client that asked for encrypted reasoning sees it, and the store keeps it too (JSON answer)', () => {
    const store = new ReplayedItemStore();
    const { memory } = rememberingRelayedItems(store, 'key-a', { include: ['reasoning.encrypted_content'] }, { include: ['reasoning.encrypted_content'] });
    expect(memory?.hideEncryptedReasoning).toBe(false);
    const relay = v1ResponsesJsonRelay({ inputFile: false, memory });
    if (relay.mode !== 'json') throw new Error('json relay expected');
    for (const event of fixtureEvents('text-basic')) if (relay.onEvent(event)) break;
    const { body } = relay.result() as { body: { output: { encrypted_content?: string }[] } };
    expect(body.output[0]!.encrypted_content).toBe(ENCRYPTED);
    expect(store.lookup('key-a', 'rs_01')?.encrypted_content).toBe(ENCRYPTED);
  });

  test('a JSON answer hides the gateway-requested content from the assembled output', () => {
    const store = new ReplayedItemStore();
    const { memory } = rememberingRelayedItems(store, 'key-a', {}, {});
    const relay = v1ResponsesJsonRelay({ inputFile: false, memory });
    if (relay.mode !== 'json') throw new Error('json relay expected');
    for (const event of fixtureEvents('text-basic')) if (relay.onEvent(event)) break;
    expect(JSON.stringify(relay.result().body)).not.toContain('encrypted_content');
    expect(store.size.items).toBe(2);
  });

  test('store: false opts out: upstream body unchanged, nothing kept', () => {
    const store = new ReplayedItemStore();
    const translated = { model: 'm', input: [] };
    const { body, memory } = rememberingRelayedItems(store, 'key-a', { store: false }, translated);
    expect(body).toBe(translated);
    expect(memory).toBeNull();
    streamed(v1ResponsesStreamRelay(memory));
    expect(store.size.items).toBe(0);
  });

  test('a store with no budget changes nothing either: no encrypted reasoning asked for, nothing kept', () => {
    const store = new ReplayedItemStore({ maxBytes: 0 });
    const translated = { model: 'm', input: [] };
    const { body, memory } = rememberingRelayedItems(store, 'key-a', {}, translated);
    expect(body).toBe(translated);
    expect(memory).toBeNull();
  });

  test('a later request resolves its references from the same key only', () => {
    const store = new ReplayedItemStore();
    streamed(v1ResponsesStreamRelay(rememberingRelayedItems(store, 'key-a', {}, {}).memory));
    const request = { model: 'm', input: [{ type: 'item_reference', id: 'rs_01' }, { type: 'item_reference', id: 'msg_01' }, { role: 'user', content: 'more' }] };
    const expanded = withReplayedItems(store, 'key-a', request) as { input: { type: string; encrypted_content?: string }[] };
    expect(expanded.input.map((item) => item.type)).toEqual(['reasoning', 'message', undefined]);
    expect(expanded.input[0]!.encrypted_content).toBe(ENCRYPTED);
    expect(() => withReplayedItems(store, 'key-b', request)).toThrow(expect.objectContaining({ code: 'item_reference_not_found', param: 'input[0].id' }));
  });
});
