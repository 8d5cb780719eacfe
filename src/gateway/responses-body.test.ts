import { describe, expect, test } from 'vitest';
import { continuationOf } from './responses-body.ts';

const user = (...content: unknown[]) => ({ role: 'user', content });

describe('continuationOf', () => {
  test('previous_response_id (header first, then body) wins over anything in input', () => {
    const body = { previous_response_id: 'resp_body', input: [user({ type: 'input_file', file_id: 'file-1' })] };
    expect(continuationOf(body, { 'x-codex-previous-response-id': 'resp_header' })).toBe('resp_header');
    expect(continuationOf(body, {})).toBe('resp_body');
  });

  test('the newest encrypted reasoning item, then the newest uploaded file an input part names', () => {
    const reasoning = { type: 'reasoning', id: 'rs_1', encrypted_content: 'opaque' };
    expect(continuationOf({ input: [reasoning, user({ type: 'input_file', file_id: 'file-1' })] }, {})).toBe('rs_1');
    expect(continuationOf({ input: [user({ type: 'input_file', file_id: 'file-old' }), user({ type: 'input_text', text: 'x' }, { type: 'input_image', file_id: 'file-new' })] }, {})).toBe('file-new');
  });

  test('nothing to continue: plain text, reasoning without encrypted content, file parts without an id', () => {
    expect(continuationOf({ input: [user({ type: 'input_text', text: 'hi' })] }, {})).toBeNull();
    expect(continuationOf({ input: [{ type: 'reasoning', id: 'rs_1' }, user({ type: 'input_file', file_data: 'data:...' })] }, {})).toBeNull();
    expect(continuationOf({ input: 'just text' }, {})).toBeNull();
  });
});
