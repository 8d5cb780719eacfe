import { describe, expect, test } from 'vitest';
import type { SseEvent } from '../sse.ts';
import { fixtureEvents, framePayloads, type FixtureName } from './fixtures.ts';
import { collectEvent, collectResponse, createResponseCollector, finishCollector } from './response-collector.ts';
import { createResponsesStreamState, finishResponsesStream, toV1ResponsesEvents } from './responses-stream.ts';

type Frame = { event: string; data: Record<string, unknown> };

function replay(events: SseEvent[], finish = true): { frames: Frame[]; raw: string[] } {
  const state = createResponsesStreamState();
  const raw = events.flatMap((event) => toV1ResponsesEvents(event, state));
  if (finish) raw.push(...finishResponsesStream(state));
  const frames = raw.map((frame) => {
    const [eventLine, dataLine, ...rest] = frame.split('\n');
    expect(rest).toEqual(['', '']);
    return { event: eventLine!.replace(/^event: /, ''), data: JSON.parse(dataLine!.replace(/^data: /, '')) as Record<string, unknown> };
  });
  return { frames, raw };
}

const replayFixture = (name: FixtureName) => replay(fixtureEvents(name));
const sse = (data: unknown, type: string | null = null): SseEvent => ({ type, data: typeof data === 'string' ? data : JSON.stringify(data) });

describe('/v1/responses stream normaliser, replaying recorded upstream streams', () => {
  test('text-basic: codex.* dropped, sequence numbers from 0, labels match data types', () => {
    const { frames } = replayFixture('text-basic');
    expect(frames.map((f) => `${f.data.sequence_number} ${f.event}`)).toMatchInlineSnapshot(`
      [
        "0 response.created",
        "1 response.in_progress",
        "2 response.output_item.added",
        "3 response.output_item.done",
        "4 response.output_item.added",
        "5 response.content_part.added",
        "6 response.output_text.delta",
        "7 response.output_text.delta",
        "8 response.output_text.delta",
        "9 response.output_text.done",
        "10 response.content_part.done",
        "11 response.output_item.done",
        "12 response.completed",
      ]
    `);
    for (const frame of frames) expect(frame.data.type).toBe(frame.event);
  });

  test('every fixture: strictly increasing sequence numbers, at most one terminal and it is last, no [DONE]', () => {
    const names: FixtureName[] = ['text-basic', 'function-call', 'custom-tool', 'refusal', 'incomplete-max-tokens', 'failure-before-output', 'failure-mid-stream', 'eof-mid-stream', 'usage-absent', 'empty-deltas'];
    for (const name of names) {
      const { frames, raw } = replayFixture(name);
      const sequence = frames.map((f) => f.data.sequence_number as number);
      expect(sequence, name).toEqual([...sequence].sort((a, b) => a - b));
      expect(new Set(sequence).size, name).toBe(sequence.length);
      const terminals = frames.filter((f) => ['response.completed', 'response.incomplete', 'response.failed', 'error'].includes(f.event));
      expect(terminals, name).toHaveLength(1);
      expect(frames.at(-1), name).toBe(terminals[0]);
      expect(raw.join(''), name).not.toMatch(/codex\.|\[DONE\]/);
    }
  });

  test('custom-tool: upstream response.done is delivered as response.completed', () => {
    const { frames } = replayFixture('custom-tool');
    const last = frames.at(-1)!;
    expect(last.event).toBe('response.completed');
    expect(last.data.type).toBe('response.completed');
    expect((last.data.response as { output: unknown[] }).output).toHaveLength(1);
  });

  test('function-call: an empty terminal output is back-filled from output_item.done items in order', () => {
    const { frames } = replayFixture('function-call');
    const output = (frames.at(-1)!.data.response as { output: { call_id: string; arguments: string }[] }).output;
    expect(output.map((item) => [item.call_id, item.arguments])).toEqual([
      ['call_paris', '{"city":"Paris"}'],
      ['call_tokyo', '{"city":"Tokyo"}'],
    ]);
  });

  test('failure-before-output: the failure is relayed with its code, never the provider message', () => {
    const { frames, raw } = replayFixture('failure-before-output');
    expect(frames.map((f) => f.event)).toEqual(['response.created', 'response.in_progress', 'response.failed']);
    expect((frames[2]!.data.response as { error: unknown }).error).toEqual({ code: 'server_is_overloaded', message: 'upstream request failed' });
    expect(raw.join('')).not.toMatch(/internal\.example|acct_secret/);
  });

  test('failure-mid-stream: an upstream error event is redacted and ends the stream', () => {
    const { frames, raw } = replayFixture('failure-mid-stream');
    expect(frames.at(-1)).toEqual({ event: 'error', data: { type: 'error', sequence_number: 6, code: 'server_error', message: 'upstream request failed', param: null } });
    expect(raw.join('')).not.toContain('secret');
  });

  test('eof-mid-stream: one synthetic error event after the visible output', () => {
    const { frames } = replayFixture('eof-mid-stream');
    expect(frames.at(-2)!.event).toBe('response.output_text.delta');
    const message = 'upstream request failed: stream interrupted before terminal response event';
    expect(frames.at(-1)).toEqual({
      event: 'error',
      data: { type: 'error', sequence_number: 6, code: 'server_error', message, param: null, error: { type: 'server_error', code: 'server_error', message, param: null } },
    });
  });

  test('nothing after the first terminal, and no synthetic error after it', () => {
    const state = createResponsesStreamState();
    const events = fixtureEvents('usage-absent');
    for (const event of events) toV1ResponsesEvents(event, state);
    expect(state.terminal).toBe('success');
    expect(toV1ResponsesEvents(events[5]!, state)).toEqual([]);
    expect(toV1ResponsesEvents(sse({ type: 'response.failed', response: {} }), state)).toEqual([]);
    expect(finishResponsesStream(state)).toEqual([]);
  });

  test('sequence numbers: the upstream value when it increases, else last + 1', () => {
    const delta = (sequence_number: unknown) => sse({ type: 'response.output_text.delta', delta: 'x', sequence_number });
    const { frames } = replay([delta(7), delta(3), delta('9'), delta(20), delta(2 ** 53), delta(undefined), delta(21.5)], false);
    expect(frames.map((f) => f.data.sequence_number)).toEqual([7, 8, 9, 20, 21, 22, 23]);
    expect(replay([delta(undefined)], false).frames[0]!.data.sequence_number).toBe(0);
  });

  test('a typeless success object becomes response.completed wrapping it', () => {
    const body = { id: 'resp_typeless', status: 'completed', output: [{ type: 'message', role: 'assistant', content: [] }] };
    const { frames } = replay([sse(body, 'message')]);
    expect(frames).toEqual([{ event: 'response.completed', data: { type: 'response.completed', sequence_number: 0, response: body } }]);
  });

  test('dropped: [DONE], non-JSON data, a label that disagrees with the data type, typeless objects without id', () => {
    const { frames } = replay(
      [sse('[DONE]'), sse('not json'), sse({ type: 'response.output_text.delta', delta: 'a' }, 'response.completed'), sse({ delta: 'b' }), sse({ type: 'codex.response.metadata' }), sse({ type: 'response.output_text.delta', delta: 'c' })],
      false,
    );
    expect(frames.map((f) => f.data.delta)).toEqual(['c']);
  });

  test('unknown event types are forwarded (tolerated), keeping their data', () => {
    const { frames } = replay([sse({ type: 'response.reasoning_summary_text.delta', delta: 'thinking', item_id: 'rs_1' })], false);
    expect(frames[0]).toEqual({ event: 'response.reasoning_summary_text.delta', data: { type: 'response.reasoning_summary_text.delta', sequence_number: 0, delta: 'thinking', item_id: 'rs_1' } });
  });

  test('a label without a data type supplies the type', () => {
    const { frames } = replay([sse({ delta: 'x' }, 'response.output_text.delta')], false);
    expect(frames[0]!.data).toEqual({ type: 'response.output_text.delta', sequence_number: 0, delta: 'x' });
  });
});

describe('non-streaming /v1/responses collector', () => {
  test('text-basic: the terminal response plus object:"response", with usage', () => {
    const result = collectResponse(fixtureEvents('text-basic'));
    if (!result.ok) throw new Error('expected success');
    expect(result.response.object).toBe('response');
    expect(result.response.id).toBe('resp_text_basic');
    expect((result.response.output as unknown[]).length).toBe(2);
    expect(result.usage).toEqual({ inputTokens: 21, cachedInputTokens: 16, outputTokens: 12, reasoningTokens: 8, totalTokens: 33 });
  });

  test('function-call: empty terminal output back-filled from output_item.done', () => {
    const result = collectResponse(fixtureEvents('function-call'));
    if (!result.ok) throw new Error('expected success');
    expect((result.response.output as { name: string; call_id: string }[]).map((item) => item.call_id)).toEqual(['call_paris', 'call_tokyo']);
  });

  test('no output_item.done: back-filled from the text deltas', () => {
    const events = [
      sse({ type: 'response.output_text.delta', item_id: 'msg_1', delta: 'Hel' }),
      sse({ type: 'response.output_text.delta', item_id: 'msg_1', delta: 'lo' }),
      sse({ type: 'response.completed', response: { id: 'resp_1', status: 'completed', output: [], usage: null } }),
    ];
    const result = collectResponse(events);
    expect(result).toEqual({
      ok: true,
      usage: null,
      response: {
        id: 'resp_1',
        object: 'response',
        status: 'completed',
        usage: null,
        output: [{ id: 'msg_1', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hello', annotations: [] }] }],
      },
    });
  });

  test('incomplete-max-tokens is a success with status incomplete', () => {
    const result = collectResponse(fixtureEvents('incomplete-max-tokens'));
    expect(result.ok && result.response.status).toBe('incomplete');
  });

  test('a failed terminal: 502 with the redacted error', () => {
    expect(collectResponse(fixtureEvents('failure-before-output'))).toEqual({
      ok: false,
      status: 502,
      body: { error: { message: 'upstream request failed', type: 'server_error', code: 'server_is_overloaded' } },
    });
    expect(JSON.stringify(collectResponse(fixtureEvents('failure-mid-stream')))).not.toContain('secret');
  });

  test('no terminal: 502 upstream_response_missing', () => {
    expect(collectResponse(fixtureEvents('eof-mid-stream'))).toEqual({
      ok: false,
      status: 502,
      body: { error: { message: 'upstream request failed', type: 'server_error', code: 'upstream_response_missing' } },
    });
  });

  test('incremental use: collectEvent reports the terminal; later events are ignored', () => {
    const collector = createResponseCollector();
    const events = fixtureEvents('usage-absent');
    const seen = events.map((event) => collectEvent(collector, event));
    expect(seen.at(-1)).toBe(true);
    expect(seen.slice(0, -1).every((done) => !done)).toBe(true);
    collectEvent(collector, sse({ type: 'response.failed', response: {} }));
    expect(finishCollector(collector).ok).toBe(true);
  });
});

describe('frame payload helper', () => {
  test('parses data lines', () => {
    expect(framePayloads(['data: {"a":1}\n\n', 'data: [DONE]\n\n'])).toEqual([{ a: 1 }, '[DONE]']);
  });
});
