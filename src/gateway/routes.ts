import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthenticatedKey, KeySurface } from '../api-keys/index.ts';
import { canonicalJson } from '../crypto/index.ts';
import { PoolerError, toEnvelope } from '../errors.ts';
import { asPoolerError } from '../http/error-mapping.ts';
import { refuseWhileDraining, type DrainState } from '../http/drain.ts';
import type { RouteClass } from '../routing/index.ts';
import type { Services } from '../services.ts';
import { chatJsonRelay, chatStreamRelay, v1ResponsesJsonRelay, v1ResponsesStreamRelay, type ClientRelay } from './client-relay.ts';
import { dispatchToPool, type GatewayDeps } from './dispatch.ts';
import { rememberingRelayedItems, withReplayedItems } from './item-replay.ts';
import { applyKeyPolicy, checkModelAllowed } from './key-policy.ts';
import { registerBackendBridgeRoutes, registerV1BridgeRoutes, UploadSlots, type BridgeContext } from './bridge/index.ts';
import { poolUsageDocument } from './usage-document.ts';
import { registerWebsocketRoutes } from './websocket/index.ts';
import { chatToResponsesRequest, toUpstreamResponsesRequest, toV1Models, v1GatewayError } from './translate/index.ts';
import { affinityKeyOf, continuationOf, requireModel, startsConversation, upstreamCompactBody, upstreamResponsesBody, type JsonObject } from './responses-body.ts';

declare module 'fastify' {
  interface FastifyRequest {
    poolKey?: AuthenticatedKey;
  }
}

// Codex app-server helpers the gateway deliberately does not serve: fixed 404, no auth, no side effects.
const PRUNED_ROUTES: [string, string][] = [
  ['GET', '/backend-api/codex/agent-identities/jwks'],
  ['GET', '/backend-api/wham/agent-identities/jwks'],
  ['POST', '/api/codex/rate-limit-reset-credits/consume'],
  ['POST', '/wham/rate-limit-reset-credits/consume'],
  ['POST', '/backend-api/wham/rate-limit-reset-credits/consume'],
  ['POST', '/backend-api/codex/thread/goal/get'],
  ['POST', '/backend-api/codex/thread/goal/set'],
  ['POST', '/backend-api/codex/thread/goal/clear'],
  ['POST', '/backend-api/codex/analytics-events/events'],
  ['POST', '/backend-api/codex/memories/trace_summarize'],
  ['POST', '/backend-api/codex/alpha/search'],
  ['POST', '/backend-api/codex/realtime/calls'],
  ['POST', '/backend-api/codex/safety/arc'],
];

export function gatewayDeps(services: Services): GatewayDeps {
  return {
    routing: services.routing,
    credentials: services.credentials,
    quota: services.quota,
    requestLog: services.requestLog,
    dispatcher: services.dispatcher,
    upstreamBaseUrl: services.config.upstreamBaseUrl,
    timeouts: services.config.upstreamTimeouts,
    log: services.log.child({ component: 'gateway' }),
    metrics: services.metrics,
    now: Date.now,
  };
}

export async function registerGatewayRoutes(app: FastifyInstance, options: { services: Services; drain: DrainState }): Promise<void> {
  const { services } = options;
  const deps = gatewayDeps(services);
  const bridge: BridgeContext = { services, deps, admit: (request, guard, work) => admitted(services, request, guard, work), uploads: new UploadSlots() };

  // The websocket transports authenticate before the upgrade and drain with close 1001 (runtime spec §8, §12).
  await registerWebsocketRoutes(app, {
    services,
    drain: options.drain,
    resolveModel: (key, requested) => resolveModel(services, key, requested),
    modelsEtag: async (poolId) => (await catalogBody(services, poolId)).etag,
  });

  for (const [method, url] of PRUNED_ROUTES) {
    app.route({ method: method as 'GET' | 'POST', url, handler: (_request, reply) => reply.code(404).type('text/html; charset=utf-8').send('Not Found') });
  }

  // Every runtime path authenticates before its body is parsed (hooks run before parsing).
  await app.register(async (scope) => {
    scope.addHook('onRequest', refuseWhileDraining(options.drain));
    scope.addHook('onRequest', authenticate(services, 'backend'));
    registerBackendRoutes(scope, services, deps);
    registerBackendBridgeRoutes(scope, bridge);
    // Codex reads its rate limits here (`/status`): the pool's view, never an upstream call.
    for (const path of ['/backend-api/wham/usage', '/api/codex/usage', '/wham/usage', '/backend-api/codex/usage']) {
      scope.get(path, async (request) => poolUsageDocument(await services.routing.candidates(request.poolKey!.poolId), Date.now()));
    }
    scope.post('/backend-api/codex/v1/chat/completions', chatCompletions(services, deps));
  });
  await app.register(async (scope) => {
    scope.addHook('onRequest', refuseWhileDraining(options.drain));
    scope.addHook('onRequest', authenticate(services, 'v1'));
    // After authentication, /v1 clients see redacted errors (spec §9.9); auth failures keep the runtime envelope.
    scope.setErrorHandler((error, request, reply) => {
      const pooler = asPoolerError(error);
      if (pooler.status >= 500) request.log.error({ err: error }, 'request failed');
      const answer = request.poolKey ? v1GatewayError(pooler) : { status: pooler.status, body: toEnvelope(pooler) };
      reply.headers(pooler.headers).code(answer.status).send(answer.body);
    });
    registerV1BridgeRoutes(scope, bridge);
    registerV1Routes(scope, services, deps);
  });
}

function authenticate(services: Services, surface: KeySurface) {
  return async (request: FastifyRequest) => {
    request.poolKey = await services.apiKeys.authenticate(request.headers.authorization, surface);
    if (surface === 'v1' && !request.poolKey.v1Enabled) throw new PoolerError('v1_compatibility_disabled');
  };
}

/**
 * Key limits first (a refused request costs nothing upstream), then the route class bulkhead; both
 * are held until the answer, stream included, has ended.
 */
async function admitted(services: Services, request: FastifyRequest, guard: { routeClass: RouteClass; model: string; body: JsonObject; bytes: number }, work: () => Promise<void>): Promise<void> {
  const maxOutput = typeof guard.body.max_output_tokens === 'number' ? guard.body.max_output_tokens : 0;
  const finished = await services.keyPolicies.admit(request.poolKey!.id, guard.model, { inputTokens: Math.ceil(guard.bytes / 4), outputTokens: maxOutput });
  try {
    const release = await services.admission[guard.routeClass].acquire();
    try {
      await work();
    } finally {
      release();
    }
  } finally {
    finished();
  }
}

function jsonBody(request: FastifyRequest): JsonObject {
  const body = request.body;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new PoolerError('invalid_request', 'request body must be a JSON object');
  return body as JsonObject;
}

/**
 * The key's enforced model and model allow-list (null = every model, [] = none), then the pool
 * catalog. HTTP routes pass the model applyKeyPolicy already settled; websocket turns pass the
 * client's, so the enforced model applies there too.
 */
async function resolveModel(services: Services, key: AuthenticatedKey, asked: string): Promise<string> {
  const requested = key.policy?.enforcedModel ?? asked;
  checkModelAllowed(key, requested);
  const catalog = await services.routing.catalog(key.poolId);
  const entry = catalog.models.get(requested.toLowerCase());
  if (entry) return entry.upstreamModelId;
  // A catalog that was never fetched cannot refuse anything: the upstream decides.
  if (!catalog.fetched) return requested;
  throw new PoolerError('invalid_model', 'model is not available for this pool', { param: 'model' });
}

const catalogCache = new WeakMap<object, { body: { models: Record<string, unknown>[] }; etag: string }>();

/** The backend catalog body and its ETag, memoised per loaded catalog snapshot. */
async function catalogBody(services: Services, poolId: string): Promise<{ body: { models: Record<string, unknown>[] }; etag: string }> {
  const catalog = await services.routing.catalog(poolId);
  const cached = catalogCache.get(catalog);
  if (cached) return cached;
  const entries = [...catalog.models.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, model]) => {
      const { source_assignment_id: _a, upstream_model: _b, ...entry } = model.entry;
      return entry;
    });
  const body = { models: entries };
  const value = { body, etag: `W/"cp-models-v1-${createHash('sha256').update(canonicalJson(body)).digest('hex')}"` };
  catalogCache.set(catalog, value);
  return value;
}

function registerBackendRoutes(scope: FastifyInstance, services: Services, deps: GatewayDeps): void {
  const responses = async (request: FastifyRequest, reply: FastifyReply) => {
    const key = request.poolKey!;
    const body = jsonBody(request);
    const policed = applyKeyPolicy(key, body, requireModel(body));
    const requestedModel = policed.model;
    const upstreamModel = await resolveModel(services, key, requestedModel);
    const upstreamBody = upstreamResponsesBody(policed.body, upstreamModel);
    const stream = upstreamBody.stream === true;
    const catalog = await catalogBody(services, key.poolId);
    const bytes = Buffer.from(JSON.stringify(upstreamBody));
    await admitted(services, request, { routeClass: stream ? 'proxy_stream' : 'proxy_http', model: requestedModel, body, bytes: bytes.length }, () => dispatchToPool(deps, key, request, reply, {
      routeClass: stream ? 'proxy_stream' : 'proxy_http',
      modelsEtag: catalog.etag,
      endpoint: '/backend-api/codex/responses',
      upstreamPath: '/backend-api/codex/responses',
      transport: stream ? 'http_sse' : 'http_json',
      stream,
      failover: true,
      requestedModel,
      upstreamModel,
      serviceTier: typeof upstreamBody.service_tier === 'string' ? upstreamBody.service_tier : null,
      body: bytes,
      affinityKey: affinityKeyOf(body, request.headers),
      continuationOf: continuationOf(body, request.headers),
      boundary: startsConversation(body),
      forwardClientHeaders: true,
    }));
  };
  const compact = async (request: FastifyRequest, reply: FastifyReply) => {
    const key = request.poolKey!;
    const body = jsonBody(request);
    const policed = applyKeyPolicy(key, body, requireModel(body));
    const requestedModel = policed.model;
    const upstreamModel = await resolveModel(services, key, requestedModel);
    const compactBody = Buffer.from(JSON.stringify(upstreamCompactBody(policed.body, upstreamModel)));
    await admitted(services, request, { routeClass: 'proxy_compact', model: requestedModel, body, bytes: compactBody.length }, () => dispatchToPool(deps, key, request, reply, {
      routeClass: 'proxy_compact',
      endpoint: '/backend-api/codex/responses/compact',
      upstreamPath: '/backend-api/codex/responses/compact',
      transport: 'http_compact_json',
      stream: false,
      failover: false,
      requestedModel,
      upstreamModel,
      body: compactBody,
      affinityKey: affinityKeyOf(body, request.headers),
      continuationOf: continuationOf(body, request.headers),
      boundary: true,
      forwardClientHeaders: true,
    }));
  };
  const models = async (request: FastifyRequest, reply: FastifyReply) => {
    const { body, etag } = await catalogBody(services, request.poolKey!.poolId);
    if (request.headers['if-none-match'] === etag) return reply.code(304).header('etag', etag).send();
    return reply.header('etag', etag).header('x-models-etag', etag).send(body);
  };
  // GET …/responses is the websocket transport, registered by registerWebsocketRoutes.

  for (const prefix of ['/backend-api/codex', '/backend-api/codex/v1']) {
    scope.post(`${prefix}/responses`, responses);
    scope.post(`${prefix}/responses/compact`, compact);
    scope.get(`${prefix}/models`, models);
  }
}

type V1Plan = { body: JsonObject; clientStream: boolean; relay: (model: string) => ClientRelay; endpointLabel: string };

/** Runs a translated /v1 request: the upstream always streams; the relay shapes what the client gets. */
async function dispatchV1(services: Services, deps: GatewayDeps, request: FastifyRequest, reply: FastifyReply, plan: V1Plan): Promise<void> {
  const key = request.poolKey!;
  // Chat clients name the effort `reasoning_effort`; errors point at the field they sent.
  const policed = applyKeyPolicy(key, plan.body, requireModel(plan.body), { effortParam: plan.endpointLabel === '/v1/chat/completions' ? 'reasoning_effort' : 'reasoning.effort' });
  const requestedModel = policed.model;
  const upstreamModel = await resolveModel(services, key, requestedModel);
  const upstreamBody = upstreamResponsesBody({ ...policed.body, stream: true, store: false }, upstreamModel);
  const routeClass = plan.clientStream ? 'proxy_stream' : 'proxy_http';
  const bytes = Buffer.from(JSON.stringify(upstreamBody));
  await admitted(services, request, { routeClass, model: requestedModel, body: plan.body, bytes: bytes.length }, () => dispatchToPool(deps, key, request, reply, {
    routeClass,
    endpoint: '/backend-api/codex/responses',
    upstreamPath: '/backend-api/codex/responses',
    transport: plan.clientStream ? 'http_sse' : 'http_json',
    stream: true,
    failover: true,
    requestedModel,
    upstreamModel,
    serviceTier: typeof upstreamBody.service_tier === 'string' ? upstreamBody.service_tier : null,
    body: bytes,
    affinityKey: affinityKeyOf(plan.body, request.headers),
    continuationOf: continuationOf(plan.body, request.headers),
    boundary: startsConversation(plan.body),
    forwardClientHeaders: false,
    relay: plan.relay(requestedModel),
  }));
}

function hasInputFile(body: JsonObject): boolean {
  return Array.isArray(body.input) && JSON.stringify(body.input).includes('"input_file"');
}

function chatCompletions(services: Services, deps: GatewayDeps) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const translated = chatToResponsesRequest(request.body);
    await dispatchV1(services, deps, request, reply, {
      body: translated.request,
      clientStream: translated.stream,
      endpointLabel: '/v1/chat/completions',
      relay: (model) => (translated.stream ? chatStreamRelay({ model, includeUsage: translated.includeUsage }) : chatJsonRelay({ model })),
    });
  };
}

function registerV1Routes(scope: FastifyInstance, services: Services, deps: GatewayDeps): void {
  scope.get('/v1/models', async (request) => {
    const catalog = await services.routing.catalog(request.poolKey!.poolId);
    return toV1Models([...catalog.models.entries()].map(([id, model]) => ({ id, entry: model.entry })));
  });
  scope.get('/v1/models/:id', async (request) => {
    const catalog = await services.routing.catalog(request.poolKey!.poolId);
    const id = decodeURIComponent((request.params as { id: string }).id).toLowerCase();
    const model = catalog.models.get(id);
    if (!model) throw new PoolerError('not_found', `model ${id} is not available for this pool`, { param: 'model' });
    return toV1Models([{ id, entry: model.entry }]).data[0];
  });
  scope.post('/v1/responses', async (request, reply) => {
    const clientStream = (request.body as JsonObject | null)?.stream === true;
    // item_reference replays resolve from what this process relayed to the key (never reaching the upstream unresolved).
    const apiKeyId = request.poolKey!.id;
    const replayed = withReplayedItems(services.replayedItems, apiKeyId, request.body);
    const { body, memory } = rememberingRelayedItems(services.replayedItems, apiKeyId, request.body, toUpstreamResponsesRequest(replayed));
    await dispatchV1(services, deps, request, reply, {
      body,
      clientStream,
      endpointLabel: '/v1/responses',
      relay: () => (clientStream ? v1ResponsesStreamRelay(memory) : v1ResponsesJsonRelay({ inputFile: hasInputFile(body), memory })),
    });
  });
  scope.post('/v1/chat/completions', chatCompletions(services, deps));
  for (const path of ['/v1/embeddings', '/v1/batches', '/v1/moderations', '/v1/fine_tuning/jobs', '/v1/images/variations', '/v1/content_provenance_checks', '/v1/responses/compact']) {
    // Refused in onRequest: before any body is read or parsed (spec §1.1 step 7).
    scope.post(path, { onRequest: unsupportedEndpoint }, async () => {
      throw new PoolerError('unsupported_endpoint', 'Unsupported OpenAI /v1 endpoint');
    });
  }
  scope.all('/v1/*', { onRequest: unsupportedEndpoint }, async () => {
    throw new PoolerError('unsupported_endpoint', 'Unsupported OpenAI /v1 endpoint');
  });
}

async function unsupportedEndpoint(): Promise<void> {
  throw new PoolerError('unsupported_endpoint', 'Unsupported OpenAI /v1 endpoint');
}
