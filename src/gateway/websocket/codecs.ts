import type { PoolerError } from '../../errors.ts';
import { observeRelayedEvent, type RelayedItemMemory } from '../client-relay.ts';
import { rememberingRelayedItems, withReplayedItems } from '../item-replay.ts';
import type { ReplayedItemStore } from '../item-store.ts';
import { requireModel, upstreamResponsesBody } from '../responses-body.ts';
import { createResponsesStreamState, redactV1Error, toUpstreamResponsesRequest, toV1ResponsesEvents, v1GatewayError, v1RequestError } from '../translate/index.ts';
import { canonicalNativeFrame, errorFrame, metadataFrame, poolerErrorFrame, streamIdOf, upstreamCreateFrame, type JsonObject } from './protocol.ts';

/**
 * How one websocket surface speaks: the native backend socket (§8) relays upstream frames almost
 * untouched; the `/v1/responses` socket (§9.7) validates like POST /v1/responses and normalizes
 * events. Both are pure apart from their per-turn state.
 */
export type Surface = 'backend' | 'v1';

/** The items this process relayed, and the key of the turn: `/v1` `item_reference` replays resolve from them. */
export type TurnItems = { store: ReplayedItemStore; apiKeyId: string };

export type PreparedTurn = {
  requestedModel: string;
  streamId: string | null;
  /** What the turn's relay remembers for later replays (and hides from the client); null on the native socket. */
  memory: RelayedItemMemory | null;
  /** The upstream `response.create` payload for the account's model id. */
  upstreamFrame(upstreamModel: string): JsonObject;
};

export type TurnRelay = {
  /** Frames before the first upstream event. */
  start(modelsEtag: string | null, openaiModel: string | null): string[];
  /** Frames for one upstream event (`event` is the parsed frame, or null when it was not parsed). */
  onUpstream(text: string, type: string | null, event: JsonObject | null, failure: string | null): string[];
};

export type TurnCodec = {
  surface: Surface;
  /** Validates a turn frame; throws a PoolerError for the client. */
  prepare(body: JsonObject, items: TurnItems): PreparedTurn;
  relay(streamId: string | null, memory: RelayedItemMemory | null): TurnRelay;
  error(error: PoolerError, streamId: string | null): string;
  /** An upstream refusal (HTTP status at the upgrade) as the client's error frame. */
  upstreamRefusal(status: number, body: Buffer | null, streamId: string | null): string;
};

function upstreamErrorObject(body: Buffer | null, status: number): JsonObject {
  try {
    const parsed = body ? (JSON.parse(body.toString('utf8')) as unknown) : null;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const error = (parsed as JsonObject).error;
      if (error && typeof error === 'object' && !Array.isArray(error)) return error as JsonObject;
    }
  } catch {
    // not JSON: a generic error below
  }
  return { type: status >= 500 ? 'server_error' : 'invalid_request_error', code: `upstream_${status}`, message: 'upstream request failed', param: null };
}

export const nativeCodec: TurnCodec = {
  surface: 'backend',
  prepare(body) {
    const requestedModel = requireModel(body);
    // Validates input/tools like the HTTP route (throws before any upstream work).
    upstreamResponsesBody(body, requestedModel);
    return { requestedModel, streamId: null, memory: null, upstreamFrame: (model) => upstreamCreateFrame(upstreamResponsesBody(body, model)) };
  },
  relay() {
    return {
      start: (etag, model) => [metadataFrame(etag, model)],
      onUpstream: (text, _type, event, failure) => {
        const canonical = event ? canonicalNativeFrame(event, failure) : null;
        return [canonical ?? text];
      },
    };
  },
  error: (error) => poolerErrorFrame(error),
  upstreamRefusal: (status, body) => errorFrame(status, upstreamErrorObject(body, status)),
};

/** `event: t\ndata: {…}\n\n` (the /v1 SSE translator's output) → the JSON event, tagged with the stream id. */
function sseToFrame(sse: string, streamId: string | null): string {
  const line = sse.split('\n').find((l) => l.startsWith('data: '));
  const event = JSON.parse(line!.slice(6)) as JsonObject;
  return JSON.stringify(streamId ? { ...event, stream_id: streamId } : event);
}

export const v1Codec: TurnCodec = {
  surface: 'v1',
  prepare(body, items) {
    if (body.type !== 'response.create') throw invalidV1('websocket message must be {"type":"response.create",…}', 'type');
    const id = streamIdOf(body);
    if ('error' in id) throw id.error;
    const { type: _type, stream_id: _streamId, ...request } = body;
    // item_reference replays resolve as on POST /v1/responses (src/gateway/item-replay.ts).
    const replayed = withReplayedItems(items.store, items.apiKeyId, request);
    const { body: translated, memory } = rememberingRelayedItems(items.store, items.apiKeyId, request, toUpstreamResponsesRequest(replayed));
    const requestedModel = requireModel(translated);
    return {
      requestedModel,
      streamId: id.streamId,
      memory,
      upstreamFrame: (model) => upstreamCreateFrame(upstreamResponsesBody({ ...translated, stream: true, store: false }, model)),
    };
  },
  relay(streamId, memory) {
    const state = createResponsesStreamState();
    return {
      start: () => [],
      onUpstream: (text, type) => toV1ResponsesEvents(observeRelayedEvent({ type, data: text }, memory), state).map((sse) => sseToFrame(sse, streamId)),
      // §9.7: no synthetic terminal on the websocket; the turn's error frame says it ended.
    };
  },
  error(error, streamId) {
    const redacted = v1GatewayError(error);
    return errorFrame(redacted.status, (redacted.body as { error: JsonObject }).error, streamId);
  },
  upstreamRefusal(status, body, streamId) {
    const redacted = redactV1Error(status, body ? safeJson(body) : null, { beforeStream: true });
    return errorFrame(redacted.status, (redacted.body as { error: JsonObject }).error, streamId);
  },
};

function safeJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
}

const invalidV1 = (message: string, param: string) => v1RequestError('invalid_request', message, param);
