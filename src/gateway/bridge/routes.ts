import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { request as undiciRequest } from 'undici';
import type { AuthenticatedKey } from '../../api-keys/index.ts';
import { PoolerError } from '../../errors.ts';
import type { RouteClass } from '../../routing/index.ts';
import type { Services } from '../../services.ts';
import type { ClientRelay } from '../client-relay.ts';
import { dispatchToPool, type DispatchPlan, type GatewayDeps, type UpstreamAnswer } from '../dispatch.ts';
import { upstreamResponsesBody } from '../responses-body.ts';
import { redactV1Error } from '../translate/index.ts';
import { createdFile, finalized, finalizePath, finalizeUpload, isSafeUploadUrl, parseBackendFileCreate, parseFileId, parseV1FileUpload, type CreatedFile, type FileCreate, type FinalizeClock } from './file-bridge.ts';
import { listFileObjects, ownedFileObject, parseFileListQuery, recordFileObject } from './file-objects.ts';
import { imagesRelay, imageTurnBody, parseImageEdit, parseImageGeneration, type ImageRequest } from './images.ts';
import { keyUsage, refuseUsageQuery } from './key-usage.ts';
import { encodeMultipart, isMultipartBody, readMultipart, registerMultipartParser, UPLOAD_FILE_LIMIT, type UploadLimit, type UploadSlots } from './multipart.ts';
import { backendTranscription, v1Transcription, v1TranscriptionAnswer, type TranscriptionParts } from './transcription.ts';

/**
 * The backend bridge routes (files, transcription, native images; runtime spec §1.2, §1.3) and the
 * `/v1` files, audio, images and usage routes (§1.4, §9.4, §9.5, §9.8). Every upstream call goes
 * through the one dispatch (account selection, failover, credentials, request log, ledger).
 */

/** Key limits + route class bulkhead around the work (the gateway's own `admitted`). */
export type Admit = (request: FastifyRequest, guard: { routeClass: RouteClass; model: string; body: Record<string, unknown>; bytes: number }, work: () => Promise<void>) => Promise<void>;

export type BridgeContext = { services: Services; deps: GatewayDeps; admit: Admit; uploads: UploadSlots };

const FINALIZE_CLOCK: FinalizeClock = { now: Date.now, sleep: (ms, signal) => sleep(ms, undefined, { signal }) };

type Plan = Omit<DispatchPlan, 'affinityKey' | 'forwardClientHeaders'> & Partial<Pick<DispatchPlan, 'affinityKey' | 'forwardClientHeaders'>>;

async function run(ctx: BridgeContext, request: FastifyRequest, reply: FastifyReply, plan: Plan): Promise<void> {
  const key = request.poolKey!;
  await ctx.admit(request, { routeClass: plan.routeClass, model: plan.requestedModel, body: {}, bytes: plan.body.length }, () =>
    dispatchToPool(ctx.deps, key, request, reply, { affinityKey: null, forwardClientHeaders: false, ...plan }),
  );
}

/** `/v1` answers built by an `answer` hook still need upstream errors redacted (spec §9.9). */
function redactingRelay(): ClientRelay {
  return {
    mode: 'json',
    onEvent: () => false,
    result: () => ({ status: 502, body: { error: { message: 'upstream request failed', type: 'server_error', code: 'upstream_response_missing' } } }),
    upstreamError: (status, body) => redactV1Error(status, body),
  };
}

/** Image permission (spec §3.3): checked after auth, before the body is read. */
function requireImagePermission(services: Services) {
  return async (request: FastifyRequest) => {
    // From the routing snapshot (cached, invalidated when pool settings change): no query per request.
    const settings = await services.routing.settings(request.poolKey!.poolId);
    if (!settings.imagesEnabled) throw new PoolerError('image_generation_disabled', 'Image generation is disabled for this pool');
  };
}

/** Both transcription routes send the same multipart body to the upstream's `/backend-api/transcribe`. */
async function transcriptionPlan(parts: TranscriptionParts, endpoint: string, extras: Pick<Plan, 'relay' | 'answer'> = {}): Promise<Plan> {
  const upstream = await encodeMultipart(parts.parts);
  return {
    routeClass: 'audio_transcription',
    endpoint,
    upstreamPath: '/backend-api/transcribe',
    transport: 'http_multipart',
    stream: false,
    failover: true,
    requestedModel: parts.model,
    upstreamModel: parts.model,
    routeModel: null,
    contentType: upstream.contentType,
    body: upstream.bytes,
    ...extras,
  };
}

type CreatedOn = { created: CreatedFile; payload: Record<string, unknown>; account: Parameters<UpstreamAnswer>[1]; signal: AbortSignal };

/**
 * A file create (`POST /backend-api/files` upstream) for either surface: the file's bytes and its
 * finalize belong to the account that created it, so later calls for the file are pinned to it;
 * `onCreated` shapes the answer (the native route relays it, `/v1/files` uploads and finalizes).
 */
function fileCreatePlan(services: Services, endpoint: string, create: FileCreate, onCreated: (created: CreatedOn) => Promise<{ status: number; body: unknown }>, extras: Pick<Plan, 'relay'> = {}): Plan {
  return {
    routeClass: 'file_upload',
    endpoint,
    upstreamPath: '/backend-api/files',
    transport: 'http_json',
    stream: false,
    failover: true,
    requestedModel: '',
    upstreamModel: '',
    routeModel: null,
    body: Buffer.from(JSON.stringify(create)),
    answer: async (payload, account, signal) => {
      const created = createdFile(payload);
      services.routing.rememberOwner(created.fileId, account.assignmentId);
      return onCreated({ created, payload, account, signal });
    },
    ...extras,
  };
}

const TRANSCRIPTION_ROUTES = new Set(['/backend-api/transcribe', '/v1/audio/transcriptions']);

/**
 * The file limit of a multipart route, from the instance settings this process applies:
 * transcription takes `transcription.max_upload_bytes`, `/v1/files` takes `files.max_size_bytes`;
 * image edits keep the built-in limit (no setting governs them).
 */
function uploadLimit(services: Services): UploadLimit {
  return (request) => {
    const route = request.routeOptions.url ?? '';
    if (TRANSCRIPTION_ROUTES.has(route)) return services.settings.current.transcription.max_upload_bytes;
    if (route === '/v1/files') return services.settings.current.files.max_size_bytes;
    return UPLOAD_FILE_LIMIT;
  };
}

async function formOf(body: unknown) {
  if (!isMultipartBody(body)) throw new PoolerError('invalid_request', 'request body must be multipart/form-data with a file', { param: 'file' });
  return readMultipart(body);
}

export function registerBackendBridgeRoutes(scope: FastifyInstance, ctx: BridgeContext): void {
  const { services } = ctx;
  registerMultipartParser(scope, ctx.uploads, uploadLimit(services));

  scope.post('/backend-api/transcribe', async (request, reply) => {
    const parts = backendTranscription(await formOf(request.body));
    await run(ctx, request, reply, await transcriptionPlan(parts, '/backend-api/transcribe'));
  });

  scope.post('/backend-api/files', async (request, reply) => {
    const create = parseBackendFileCreate(request.body, services.settings.current.files.max_size_bytes);
    await run(ctx, request, reply, fileCreatePlan(services, '/backend-api/files', create, async ({ payload }) => ({ status: 200, body: payload })));
  });

  scope.post('/backend-api/files/:fileId/uploaded', async (request, reply) => {
    const fileId = parseFileId((request.params as { fileId: string }).fileId);
    const body = request.body === undefined || request.body === null || request.body === '' ? {} : request.body;
    if (typeof body !== 'object' || Array.isArray(body) || isMultipartBody(body)) throw new PoolerError('invalid_request', 'request body must be a JSON object');
    await run(ctx, request, reply, {
      routeClass: 'file_upload',
      endpoint: '/backend-api/files/{id}/uploaded',
      upstreamPath: finalizePath(fileId),
      transport: 'http_json',
      stream: false,
      failover: false,
      continuationOf: fileId,
      requestedModel: '',
      upstreamModel: '',
      routeModel: null,
      body: Buffer.from(JSON.stringify(body)),
      answer: async (payload, account, signal) => {
        const answer = await finalizeUpload({ status: 200, body: payload }, account.call, fileId, FINALIZE_CLOCK, signal);
        return { status: answer.status, body: answer.body ?? {} };
      },
    });
  });

  for (const operation of ['generations', 'edits'] as const) {
    const path = `/backend-api/codex/images/${operation}`;
    scope.post(path, { onRequest: requireImagePermission(services) }, async (request, reply) => {
      const body = request.body;
      if (!body || typeof body !== 'object' || Array.isArray(body) || isMultipartBody(body)) throw new PoolerError('invalid_request', 'request body must be a JSON object');
      const model = typeof (body as { model?: unknown }).model === 'string' ? ((body as { model: string }).model) : '';
      await run(ctx, request, reply, {
        routeClass: 'proxy_http',
        endpoint: path,
        upstreamPath: path,
        transport: 'http_json',
        stream: false,
        failover: true,
        requestedModel: model,
        upstreamModel: model,
        routeModel: null,
        body: Buffer.from(JSON.stringify(body)),
      });
    });
  }
}

/** The model the image turn runs on: the pool's preferred catalog model the key may use. */
async function imageTurnModel(services: Services, key: AuthenticatedKey): Promise<{ id: string; upstream: string }> {
  const catalog = await services.routing.catalog(key.poolId);
  const priority = (entry: Record<string, unknown>) => (typeof entry.priority === 'number' ? entry.priority : Number.MAX_SAFE_INTEGER);
  const usable = [...catalog.models.entries()]
    .filter(([id]) => key.allowedModels === null || key.allowedModels.includes(id))
    .sort(([a, x], [b, y]) => priority(x.entry) - priority(y.entry) || (a < b ? -1 : 1));
  const chosen = usable[0];
  if (!chosen) throw new PoolerError('invalid_model', 'no model of this pool can run image generation for this api key', { param: 'model' });
  return { id: chosen[0], upstream: chosen[1].upstreamModelId };
}

async function runImageTurn(ctx: BridgeContext, request: FastifyRequest, reply: FastifyReply, image: ImageRequest, endpoint: string): Promise<void> {
  const turn = await imageTurnModel(ctx.services, request.poolKey!);
  const body = Buffer.from(JSON.stringify(upstreamResponsesBody(imageTurnBody(image, turn.upstream), turn.upstream)));
  await run(ctx, request, reply, {
    routeClass: 'proxy_http',
    endpoint,
    upstreamPath: '/backend-api/codex/responses',
    transport: 'http_json',
    stream: true,
    failover: true,
    requestedModel: image.model,
    upstreamModel: turn.upstream,
    routeModel: turn.id,
    body,
    relay: imagesRelay(ctx.deps.now, (status, raw) => redactV1Error(status, raw)),
  });
}

export function registerV1BridgeRoutes(scope: FastifyInstance, ctx: BridgeContext): void {
  const { services } = ctx;
  registerMultipartParser(scope, ctx.uploads, uploadLimit(services));

  scope.post('/v1/audio/transcriptions', async (request, reply) => {
    const parts = v1Transcription(await formOf(request.body));
    await run(ctx, request, reply, await transcriptionPlan(parts, '/v1/audio/transcriptions', {
      relay: redactingRelay(),
      answer: async (payload) => ({ status: 200, body: v1TranscriptionAnswer(payload) }),
    }));
  });

  const imagePermission = requireImagePermission(services);
  scope.post('/v1/images/generations', { onRequest: imagePermission }, async (request, reply) => {
    await runImageTurn(ctx, request, reply, parseImageGeneration(request.body), '/v1/images/generations');
  });
  scope.post('/v1/images/edits', { onRequest: imagePermission }, async (request, reply) => {
    await runImageTurn(ctx, request, reply, await parseImageEdit(request.body), '/v1/images/edits');
  });

  scope.post('/v1/files', async (request, reply) => {
    const key = request.poolKey!;
    const upload = parseV1FileUpload(await formOf(request.body));
    const create: FileCreate = { file_name: upload.file.name, file_size: upload.file.bytes.length, use_case: 'codex' };
    const plan = fileCreatePlan(
      services,
      '/v1/files',
      create,
      async ({ created, account, signal }) => {
        if (!isSafeUploadUrl(created.uploadUrl, services.config.upstreamBaseUrl)) {
          throw new PoolerError('upstream_file_bridge_invalid_response', 'upstream file creation returned an upload_url the gateway does not send files to');
        }
        // The upload URL is a storage URL, not the ChatGPT API: no account credentials go there.
        const put = await undiciRequest(created.uploadUrl, {
          method: 'PUT',
          headers: { 'content-type': upload.file.type, 'x-ms-blob-type': 'BlockBlob' },
          body: upload.file.bytes,
          dispatcher: services.dispatcher,
          signal,
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
        });
        await put.body.dump().catch(() => {});
        if (put.statusCode >= 300) throw new PoolerError('upstream_file_bridge_invalid_response', 'upstream storage did not accept the file bytes');
        const first = await account.call(finalizePath(created.fileId), {});
        const done = await finalizeUpload(first, account.call, created.fileId, FINALIZE_CLOCK, signal);
        if (!finalized(done)) throw new PoolerError('upstream_file_bridge_invalid_response', 'upstream did not finalize the file');
        const file = await recordFileObject(services.db, { fileId: created.fileId, poolId: key.poolId, apiKeyId: key.id, assignmentId: account.assignmentId, filename: upload.file.name, purpose: upload.purpose, bytes: upload.file.bytes.length, now: ctx.deps.now() });
        return { status: 200, body: file };
      },
      { relay: redactingRelay() },
    );
    await run(ctx, request, reply, plan);
  });

  scope.get('/v1/files', async (request) => listFileObjects(services.db, request.poolKey!.id, parseFileListQuery(request.query as Record<string, unknown>), ctx.deps.now()));
  scope.get('/v1/files/:fileId', async (request) => ownedFileObject(services.db, request.poolKey!.id, (request.params as { fileId: string }).fileId, ctx.deps.now()));
  // Bytes are never kept by the gateway and the upstream has no delete: the owner learns so, others get 404.
  const ownedButUnsupported = async (request: FastifyRequest) => {
    await ownedFileObject(services.db, request.poolKey!.id, (request.params as { fileId: string }).fileId, ctx.deps.now());
    throw new PoolerError('unsupported_endpoint', 'Unsupported OpenAI /v1 endpoint');
  };
  scope.get('/v1/files/:fileId/content', ownedButUnsupported);
  scope.delete('/v1/files/:fileId', ownedButUnsupported);

  scope.get('/v1/usage', async (request) => {
    refuseUsageQuery(request.query);
    const key = request.poolKey!;
    return keyUsage(services.db, key, await services.routing.candidates(key.poolId), ctx.deps.now());
  });
}
