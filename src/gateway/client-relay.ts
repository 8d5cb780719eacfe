import type { SseEvent } from './sse.ts';
import {
  chatCompletionFromResponse,
  collectEvent,
  createChatStreamState,
  createResponseCollector,
  createResponsesStreamState,
  finishChatStream,
  finishCollector,
  finishResponsesStream,
  hideEncryptedReasoning,
  redactV1Error,
  toChatChunks,
  toV1ResponsesEvents,
  type CollectedResponse,
  type JsonObject,
} from './translate/index.ts';

/**
 * How an upstream answer reaches a `/v1` client. The native backend relays bytes untouched; `/v1`
 * translates events (streaming) or assembles one JSON body at the end (non-streaming).
 */
export type ClientRelay =
  | {
      mode: 'stream';
      contentType: string;
      onEvent(event: SseEvent): string[];
      finish(): string[];
      upstreamError(status: number, body: Buffer | null): { status: number; body: unknown };
    }
  | {
      mode: 'json';
      /** Returns true once a terminal was seen. */
      onEvent(event: SseEvent): boolean;
      result(): { status: number; body: unknown };
      upstreamError(status: number, body: Buffer | null): { status: number; body: unknown };
    };

/**
 * What a `/v1/responses` answer leaves behind for later `item_reference` replays (see
 * src/gateway/item-store.ts); null when the client opted out with `store: false`.
 */
export type RelayedItemMemory = {
  /** Keeps an output item the client receives (with its encrypted reasoning). */
  remember(item: JsonObject): void;
  /** The gateway asked for encrypted reasoning on the client's behalf: the client does not see it. */
  hideEncryptedReasoning: boolean;
};

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Remembers the item of a `response.output_item.done` and hides encrypted reasoning the client did
 * not ask for; returns the event the translator should see. The `/v1/responses` websocket relay
 * (src/gateway/websocket/codecs.ts) calls it per upstream frame too.
 */
export function observeRelayedEvent(event: SseEvent, memory: RelayedItemMemory | null): SseEvent {
  if (memory === null) return event;
  // Most events (deltas) carry no item: skip them without parsing.
  if (!event.data.includes('response.output_item.done') && !event.data.includes('"encrypted_content"')) return event;
  let data: unknown;
  try {
    data = JSON.parse(event.data);
  } catch {
    return event;
  }
  if (!isObject(data)) return event;
  if ((data.type ?? event.type) === 'response.output_item.done' && isObject(data.item)) memory.remember(data.item);
  if (!memory.hideEncryptedReasoning) return event;
  const hidden = hideEncryptedReasoning(data);
  return hidden === data ? event : { type: event.type, data: JSON.stringify(hidden) };
}

export function v1ResponsesStreamRelay(memory: RelayedItemMemory | null = null): ClientRelay {
  const state = createResponsesStreamState();
  return {
    mode: 'stream',
    contentType: 'text/event-stream',
    onEvent: (event) => toV1ResponsesEvents(observeRelayedEvent(event, memory), state),
    finish: () => finishResponsesStream(state),
    upstreamError: (status) => redactV1Error(status, null, { beforeStream: true }),
  };
}

type JsonAnswer = { status: number; body: unknown };

/**
 * Non-streaming answers: the upstream stream is collected, then `answer` turns the collected
 * response (or its failure) into one JSON body.
 */
export function collectingRelay(answer: (collected: CollectedResponse) => JsonAnswer, upstreamError: (status: number, body: Buffer | null) => JsonAnswer): ClientRelay {
  const collector = createResponseCollector();
  return {
    mode: 'json',
    onEvent: (event) => collectEvent(collector, event),
    result: () => answer(finishCollector(collector)),
    upstreamError,
  };
}

/** The collected response shaped by `toBody`, or the collector's own (redacted) failure. */
const shapedOr = (toBody: (response: Record<string, unknown>) => unknown) => (collected: CollectedResponse): JsonAnswer =>
  collected.ok ? { status: 200, body: toBody(collected.response) } : { status: collected.status, body: collected.body };

export function v1ResponsesJsonRelay(options: { inputFile: boolean; memory?: RelayedItemMemory | null }): ClientRelay {
  const relay = collectingRelay(shapedOr((response) => response), (status, body) => redactV1Error(status, body, { inputFile: options.inputFile }));
  const memory = options.memory ?? null;
  return relay.mode === 'json' && memory !== null ? { ...relay, onEvent: (event) => relay.onEvent(observeRelayedEvent(event, memory)) } : relay;
}

export function chatStreamRelay(options: { model: string; includeUsage: boolean }): ClientRelay {
  const state = createChatStreamState({ model: options.model, includeUsage: options.includeUsage });
  return {
    mode: 'stream',
    contentType: 'text/event-stream',
    onEvent: (event) => toChatChunks(event, state),
    finish: () => finishChatStream(state),
    upstreamError: (status, body) => redactV1Error(status, body),
  };
}

export function chatJsonRelay(options: { model: string }): ClientRelay {
  return collectingRelay(shapedOr((response) => chatCompletionFromResponse(response, options.model)), (status, body) => redactV1Error(status, body));
}
