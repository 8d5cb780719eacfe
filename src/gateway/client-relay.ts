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
  redactV1Error,
  toChatChunks,
  toV1ResponsesEvents,
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

export function v1ResponsesStreamRelay(): ClientRelay {
  const state = createResponsesStreamState();
  return {
    mode: 'stream',
    contentType: 'text/event-stream',
    onEvent: (event) => toV1ResponsesEvents(event, state),
    finish: () => finishResponsesStream(state),
    upstreamError: (status) => redactV1Error(status, null, { beforeStream: true }),
  };
}

/** Non-streaming answers: the upstream stream is collected, then shaped into one JSON body. */
function collectingRelay(toBody: (response: Record<string, unknown>) => unknown, upstreamError: (status: number, body: Buffer | null) => { status: number; body: unknown }): ClientRelay {
  const collector = createResponseCollector();
  return {
    mode: 'json',
    onEvent: (event) => collectEvent(collector, event),
    result: () => {
      const collected = finishCollector(collector);
      return collected.ok ? { status: 200, body: toBody(collected.response) } : { status: collected.status, body: collected.body };
    },
    upstreamError,
  };
}

export function v1ResponsesJsonRelay(options: { inputFile: boolean }): ClientRelay {
  return collectingRelay((response) => response, (status, body) => redactV1Error(status, body, { inputFile: options.inputFile }));
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
  return collectingRelay((response) => chatCompletionFromResponse(response, options.model), (status, body) => redactV1Error(status, body));
}
