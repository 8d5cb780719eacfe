import { describe, expect, test } from 'vitest';
import { PoolerError } from '../../errors.ts';
import { expandReplayedItems, hideEncryptedReasoning, requestEncryptedReasoning } from './replayed-items.ts';
import type { JsonObject } from './json.ts';

const held: Record<string, JsonObject> = {
  rs_1: { id: 'rs_1', type: 'reasoning', summary: [], encrypted_content: 'gAAAAAone' },
  msg_1: { id: 'msg_1', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hi', annotations: [] }] },
  ctc_1: { id: 'ctc_1', type: 'custom_tool_call', call_id: 'call_1', name: 'apply_patch', input: 'x' },
};
const lookup = (id: string) => (held[id] ? structuredClone(held[id]) : undefined);

function thrown(fn: () => unknown): PoolerError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PoolerError) return error;
    throw error;
  }
  throw new Error('expected a PoolerError');
}

describe('expandReplayedItems', () => {
  test('replaces every item_reference with the held item, in place', () => {
    const input = [
      { role: 'user', content: 'weather?' },
      { type: 'item_reference', id: 'rs_1' },
      { type: 'function_call', call_id: 'call_0', name: 'w', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_0', output: 'sunny' },
      { type: 'item_reference', id: 'msg_1' },
      { type: 'item_reference', id: 'ctc_1' },
    ];
    expect(expandReplayedItems(input, lookup)).toEqual([input[0], held.rs_1, input[2], input[3], held.msg_1, held.ctc_1]);
  });

  test('gives a replayed reasoning item without encrypted content the held one', () => {
    const input = [{ id: 'rs_1', type: 'reasoning', summary: [{ type: 'summary_text', text: 'thought' }] }];
    expect(expandReplayedItems(input, lookup)).toEqual([{ ...input[0], encrypted_content: 'gAAAAAone' }]);
  });

  test('leaves reasoning the gateway does not hold, or that already carries its content, alone', () => {
    const input = [
      { id: 'rs_other', type: 'reasoning', summary: [] },
      { id: 'rs_1', type: 'reasoning', summary: [], encrypted_content: 'gAAAAAclient' },
    ];
    expect(expandReplayedItems(input, lookup)).toEqual(input);
  });

  test('an unknown reference is a 400 item_reference_not_found naming input[i].id', () => {
    const error = thrown(() => expandReplayedItems([{ role: 'user', content: 'x' }, { type: 'item_reference', id: 'rs_gone' }], lookup));
    expect(error).toMatchObject({ code: 'item_reference_not_found', status: 400, param: 'input[1].id' });
    expect(error.message).toContain("'rs_gone'");
    expect(error.message).toContain('one hour');
    expect(error.message).toContain('store: false');
  });

  test('a reference without an id is a 400 invalid_request', () => {
    expect(thrown(() => expandReplayedItems([{ type: 'item_reference' }], lookup))).toMatchObject({ code: 'invalid_request', status: 400, param: 'input[0].id' });
  });

  test('anything but an input array passes through for translation to judge', () => {
    expect(expandReplayedItems('hello', lookup)).toBe('hello');
    expect(expandReplayedItems(undefined, lookup)).toBeUndefined();
    expect(expandReplayedItems([42, null], lookup)).toEqual([42, null]);
  });
});

describe('requestEncryptedReasoning', () => {
  test('appends the include once and says whether the client had asked', () => {
    expect(requestEncryptedReasoning({ model: 'm' })).toEqual({ body: { model: 'm', include: ['reasoning.encrypted_content'] }, added: true });
    expect(requestEncryptedReasoning({ include: ['file_search_call.results'] })).toEqual({ body: { include: ['file_search_call.results', 'reasoning.encrypted_content'] }, added: true });
    const asked = { include: ['reasoning.encrypted_content'] };
    expect(requestEncryptedReasoning(asked)).toEqual({ body: asked, added: false });
  });
});

describe('hideEncryptedReasoning', () => {
  const rs = { id: 'rs_1', type: 'reasoning', summary: [], encrypted_content: 'gAAAAAone' };
  const bare = { id: 'rs_1', type: 'reasoning', summary: [] };
  const compaction = { id: 'cmp_1', type: 'compaction', encrypted_content: 'gAAAAAcmp' };

  test('strips it from an event item', () => {
    expect(hideEncryptedReasoning({ type: 'response.output_item.done', output_index: 0, item: rs })).toEqual({ type: 'response.output_item.done', output_index: 0, item: bare });
  });

  test('strips it from a terminal response output, leaving other items (compaction) as they are', () => {
    const data = { type: 'response.completed', response: { id: 'resp_1', output: [rs, held.msg_1, compaction] } };
    expect(hideEncryptedReasoning(data)).toEqual({ type: 'response.completed', response: { id: 'resp_1', output: [bare, held.msg_1, compaction] } });
  });

  test('strips it from a typeless response object', () => {
    expect(hideEncryptedReasoning({ id: 'resp_1', output: [rs] })).toEqual({ id: 'resp_1', output: [bare] });
  });

  test('returns the same object when there is nothing to hide', () => {
    const data = { type: 'response.output_item.done', item: held.msg_1 };
    expect(hideEncryptedReasoning(data)).toBe(data);
    const added = { type: 'response.output_item.added', item: bare };
    expect(hideEncryptedReasoning(added)).toBe(added);
  });
});
