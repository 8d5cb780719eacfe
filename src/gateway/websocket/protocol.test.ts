import { describe, expect, test } from 'vitest';
import { sha256Hex } from '../../crypto/index.ts';
import { canonicalNativeFrame, closeCodeLabel, controlHeaders, frameKind, parseClientFrame, peekType, streamIdOf, turnStateOf, upstreamCreateFrame, warmupFrames } from './protocol.ts';
import { sessionKeyOf } from './routes.ts';

describe('client frames (runtime spec §8)', () => {
  test.each([
    ['not JSON', '{nope', 'websocket message must be valid JSON', null],
    ['an array', '[1]', 'websocket message must be a JSON object', null],
    ['an unknown type without a model', '{"type":"session.update"}', 'websocket message type is not supported', 'type'],
    ['response.processed without an id', '{"type":"response.processed"}', 'response.processed requires response_id', 'response_id'],
  ])('%s is refused', (_name, text, message, param) => {
    const frame = parseClientFrame(text);
    expect(frame.kind).toBe('invalid');
    if (frame.kind !== 'invalid') return;
    expect(frame.error).toMatchObject({ code: 'invalid_request', status: 400, message, param });
  });

  test('turns, warm-ups and acknowledgements', () => {
    expect(parseClientFrame('{"type":"response.create","model":"m","request_id":"r1"}')).toMatchObject({ kind: 'turn', turnId: 'r1' });
    expect(parseClientFrame('{"model":"m","turn_id":"t1"}')).toMatchObject({ kind: 'turn', turnId: 't1' });
    expect(parseClientFrame('{"type":"response.create","model":"m","generate":false}').kind).toBe('warmup');
    expect(parseClientFrame('{"type":"response.processed","response_id":"resp_1"}').kind).toBe('processed');
  });

  test('a warm-up is answered with created then completed, empty id', () => {
    expect(warmupFrames().map((f) => JSON.parse(f))).toEqual([
      { type: 'response.created', response: { id: '', usage: null, end_turn: true } },
      { type: 'response.completed', response: { id: '', usage: null, end_turn: true } },
    ]);
  });

  test('the upstream payload drops gateway-only keys and defaults type and instructions', () => {
    expect(upstreamCreateFrame({ model: 'm', request_id: 'r', turn_id: 't', generate: true, stream_id: 's', input: [] })).toEqual({ model: 'm', input: [], type: 'response.create', instructions: '' });
    expect(upstreamCreateFrame({ type: 'response.create', instructions: 'x' })).toEqual({ type: 'response.create', instructions: 'x' });
  });
});

describe('stream ids (§9.7)', () => {
  test.each([
    [{}, { streamId: null }],
    [{ stream_id: 'lane-1' }, { streamId: 'lane-1' }],
    [{ stream_id: 'a.b_c-9' }, { streamId: 'a.b_c-9' }],
  ])('%j is accepted', (body, expected) => expect(streamIdOf(body)).toEqual(expected));

  test.each([[{ stream_id: 'bad id!' }], [{ stream_id: '' }], [{ stream_id: 'x'.repeat(257) }], [{ stream_id: 7 }]])('%j is refused naming stream_id', (body) => {
    const result = streamIdOf(body);
    expect('error' in result && result.error.param).toBe('stream_id');
  });
});

describe('upstream frames', () => {
  test.each([
    ['{"type":"response.completed","response":{}}', 'success'],
    ['{"type":"response.failed"}', 'failure'],
    ['{"type":"error","status":429}', 'failure'],
    ['{"type":"response.created"}', 'prelude'],
    ['{"type":"codex.rate_limits"}', 'prelude'],
    ['{"type":"response.output_text.delta","delta":"x"}', 'output'],
  ])('%s is %s', (text, kind) => expect(frameKind(peekType(text))).toBe(kind));

  test('a previous-response miss becomes the error frame Codex answers with full context', () => {
    expect(JSON.parse(canonicalNativeFrame({ type: 'response.failed' }, 'previous_response_not_found')!)).toEqual({
      type: 'error',
      status: 400,
      error: { type: 'invalid_request_error', code: 'previous_response_not_found', message: 'Previous response was not found. Retrying the full request.', param: null },
    });
  });

  test('per-event header maps keep only control headers; frames without one pass untouched', () => {
    expect(controlHeaders({ 'x-codex-turn-state': 'T', 'x-codex-primary-used-percent': '10', 'set-cookie': 'a=b', 'openai-model': 'gpt' })).toEqual({ 'x-codex-turn-state': 'T', 'openai-model': 'gpt' });
    expect(JSON.parse(canonicalNativeFrame({ type: 'error', status: 429, headers: { 'x-codex-primary-used-percent': '100' } }, 'usage_limit_reached')!)).toEqual({ type: 'error', status: 429 });
    expect(canonicalNativeFrame({ type: 'response.output_text.delta' }, null)).toBeNull();
  });
});

describe('session keys (§10.2)', () => {
  test.each([
    ['a client turn state wins, hashed', { 'x-codex-turn-state': 'T', 'session-id': 'S' }, `x-codex-turn-state:${sha256Hex('T')}`, 'T'],
    ['a window id is hashed', { 'x-codex-window-id': 'W', 'session-id': 'S' }, `x-codex-window-id:${sha256Hex('W')}`, 'minted'],
    ['another session header is taken as is', { session_id: 'S' }, 'S', 'minted'],
    ['nothing: the minted turn state', {}, `x-codex-turn-state:${sha256Hex('minted')}`, 'minted'],
  ])('%s', (_name, headers, sessionKey, turnState) => expect(sessionKeyOf(headers, 'minted')).toEqual({ sessionKey, turnState }));
});

describe('turn state in a frame (§8, §10.1)', () => {
  test.each([
    ['client_metadata names it', { client_metadata: { 'x-codex-turn-state': ' T-1 ' } }, 'T-1'],
    ['no client_metadata', {}, null],
    ['client_metadata is not an object', { client_metadata: ['x'] }, null],
    ['blank', { client_metadata: { 'x-codex-turn-state': '   ' } }, null],
    ['not a string', { client_metadata: { 'x-codex-turn-state': 7 } }, null],
    ['control characters', { client_metadata: { 'x-codex-turn-state': 'a\nb' } }, null],
    ['longer than 512 characters', { client_metadata: { 'x-codex-turn-state': 'x'.repeat(513) } }, null],
  ])('%s', (_name, body, want) => expect(turnStateOf(body)).toBe(want));
});

describe('closeCodeLabel (the close metric keeps a bounded set of codes)', () => {
  test.each([
    [1000, '1000'],
    [1001, '1001'],
    [1008, '1008'],
    [1011, '1011'],
    [1005, '1005'],
    [1006, '1006'],
    [1012, 'other'],
    [3000, 'other'],
    [4999, 'other'],
  ])('%i → %s', (code, label) => expect(closeCodeLabel(code)).toBe(label));
});
