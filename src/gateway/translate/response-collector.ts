import type { SseEvent } from '../sse.ts';
import { usageFrom, type TokenUsage } from '../usage.ts';
import { redactedErrorBody, type V1ErrorBody } from './errors.ts';
import { isObject, type JsonObject } from './json.ts';
import { backfilledOutput } from './responses-stream.ts';
import { readUpstreamEvent, responseOf, upstreamFailureCode } from './upstream-event.ts';

/**
 * Assembles a non-streaming `/v1/responses` answer from the upstream SSE stream (runtime spec
 * §9.2): the terminal `response` object plus `"object":"response"`, its empty `output` back-filled
 * from `response.output_item.done` items, else from the text deltas. Feed events as they arrive;
 * only finished items and text are kept, never the raw stream.
 */

export type CollectedResponse =
  | { ok: true; response: JsonObject; usage: TokenUsage | null }
  /** A failed terminal (502, redacted) or no terminal at all (502 `upstream_response_missing`). */
  | { ok: false; status: number; body: V1ErrorBody };

export type ResponseCollector = {
  doneItems: Map<number, JsonObject>;
  /** Text deltas per message item id, in arrival order. */
  text: Map<string, string[]>;
  result: CollectedResponse | null;
};

export function createResponseCollector(): ResponseCollector {
  return { doneItems: new Map(), text: new Map(), result: null };
}

function textOutput(text: Map<string, string[]>): JsonObject[] {
  return [...text.entries()].map(([id, parts]) => ({
    id,
    type: 'message',
    role: 'assistant',
    status: 'completed',
    content: [{ type: 'output_text', text: parts.join(''), annotations: [] }],
  }));
}

function completed(collector: ResponseCollector, response: JsonObject): CollectedResponse {
  let output = Array.isArray(response.output) ? response.output : [];
  if (output.length === 0) output = collector.doneItems.size > 0 ? backfilledOutput(collector.doneItems) : textOutput(collector.text);
  return { ok: true, response: { ...response, object: 'response', output }, usage: usageFrom(response.usage) };
}

/** Feeds one upstream event; returns true once a terminal has been seen (later events are ignored). */
export function collectEvent(collector: ResponseCollector, event: SseEvent): boolean {
  if (collector.result !== null) return true;
  const upstream = readUpstreamEvent(event);
  if (upstream === null) return false;
  if (upstream.terminal === 'failure') {
    collector.result = { ok: false, status: 502, body: redactedErrorBody(upstreamFailureCode(upstream)) };
    return true;
  }
  if (upstream.terminal === 'success') {
    collector.result = completed(collector, responseOf(upstream) ?? {});
    return true;
  }
  const { data } = upstream;
  if (upstream.type === 'response.output_item.done' && isObject(data.item)) {
    collector.doneItems.set(typeof data.output_index === 'number' ? data.output_index : collector.doneItems.size, data.item);
    if (typeof data.item.id === 'string') collector.text.delete(data.item.id);
  } else if (upstream.type === 'response.output_text.delta' && typeof data.delta === 'string') {
    const id = typeof data.item_id === 'string' ? data.item_id : 'msg_0';
    const parts = collector.text.get(id) ?? [];
    parts.push(data.delta);
    collector.text.set(id, parts);
  }
  return false;
}

/** The answer once the upstream stream has ended. */
export function finishCollector(collector: ResponseCollector): CollectedResponse {
  return collector.result ?? { ok: false, status: 502, body: redactedErrorBody('upstream_response_missing') };
}

/** Collects a whole recorded stream (tests, small bodies). */
export function collectResponse(events: Iterable<SseEvent>): CollectedResponse {
  const collector = createResponseCollector();
  for (const event of events) if (collectEvent(collector, event)) break;
  return finishCollector(collector);
}
