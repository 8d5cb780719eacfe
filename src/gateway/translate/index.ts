/**
 * OpenAI `/v1` translation: pure functions, no I/O. Requests in → upstream Responses bodies out;
 * upstream SSE events in → client frames or JSON out. Routes in `src/gateway` wire them to HTTP.
 */
export { toUpstreamResponsesRequest } from './responses-request.ts';
export { chatToResponsesRequest, type ChatTranslation } from './chat-request.ts';
export { createResponsesStreamState, toV1ResponsesEvents, finishResponsesStream, type ResponsesStreamState } from './responses-stream.ts';
export { createResponseCollector, collectEvent, finishCollector, collectResponse, type CollectedResponse, type ResponseCollector } from './response-collector.ts';
export { createChatStreamState, toChatChunks, finishChatStream, type ChatStreamOptions, type ChatStreamState } from './chat-stream.ts';
export { chatCompletionFromResponse, chatUsage, finishReason, type ChatClock, type ChatUsage, type FinishReason } from './chat-completion.ts';
export { redactV1Error, redactedErrorBody, v1GatewayError, safeErrorCode, STREAM_INTERRUPTED_MESSAGE, UPSTREAM_FAILED_MESSAGE, type RedactOptions, type V1ErrorBody, type V1ErrorReply } from './errors.ts';
export { toV1Model, toV1Models, contextLength, type V1Model, type V1ModelList, type V1ModelSource } from './models.ts';
export { v1RequestError, type V1RequestCode } from './request-error.ts';
export { expandReplayedItems, hideEncryptedReasoning, itemReferenceNotFound, requestEncryptedReasoning, ENCRYPTED_REASONING, type ItemLookup } from './replayed-items.ts';
export type { JsonObject } from './json.ts';
