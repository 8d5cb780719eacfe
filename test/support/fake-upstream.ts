/**
 * Faithful fake of the ChatGPT Codex backend (+ the auth.openai.com token
 * endpoint) for integration tests and benchmarks. Plain node:http + ws, so it
 * is fully independent of the gateway under test.
 *
 * Point both the upstream base URL and the OAuth issuer at `fake.url`.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import type { WebSocket, RawData } from 'ws';
import {
  CODEX_CLIENT_ID,
  makeAccessTokenFor,
  makeAuthJson,
  makeIdToken,
  makeRefreshToken,
} from './fake-tokens.ts';
import type { FakeTokenSet, TokenIdentity } from './fake-tokens.ts';
import { buildCatalog } from './fake-models.ts';
import { FakeMedia, isImageTurn } from './fake-media.ts';
import type { ModelEntry } from './fake-models.ts';
import {
  failedEvent,
  finalOutput,
  isDeltaEvent,
  makeOutputIds,
  makeUsage,
  newId,
  nowSec,
  preambleEvents,
  responseObject,
  sequence,
  sseFrame,
  successEvents,
} from './fake-sse-events.ts';
import type { JsonObject, OutputPlan, QuotaState, ResponsePlan } from './fake-sse-events.ts';

export type { ModelEntry } from './fake-models.ts';
export type { QuotaState } from './fake-sse-events.ts';

export const DEFAULT_REPLY = 'Hello from the fake Codex upstream. How can I help?';
export const TOOL_CALL_ARGUMENTS = '{"query":"fake upstream","limit":3}';
export const WEBSOCKET_BETA = 'responses_websockets=2026-02-06';

// ---------------------------------------------------------------- types

/** Which upstream surfaces a scripted outcome may be consumed by. */
export type ScriptTarget = 'responses' | 'compact' | 'websocket' | 'models' | 'usage';

export type ScriptedOutcome = (
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'first-event-failure'; code: string; message?: string }
  /** preamble (created, in_progress, rate_limits) then response.failed; `afterDelta` emits a first text delta before it */
  | { kind: 'stream-failure'; code: string; message?: string; afterDelta?: boolean }
  /** stream stops right after the first delta, no terminal; `abrupt` destroys the socket instead of ending cleanly */
  | { kind: 'eof-after-delta'; abrupt?: boolean }
  | { kind: 'stall'; ms: number }
  | { kind: 'stall-mid-stream'; ms: number }
  | { kind: 'refuse-connection' }
  | { kind: 'non-json' }
  /**
   * websocket only (script it with `on: 'websocket'`): the account's tokens stop being accepted (as when ChatGPT revokes a session) and the
   * next `response.create` on an open socket answers a 401 error event with this code.
   */
  | { kind: 'auth-error-event'; code: 'invalid_api_key' | 'invalid_authentication' }
) & {
  /** default: ['responses', 'compact', 'websocket'] */
  on?: ScriptTarget | ScriptTarget[];
};

export type TokenScript =
  | { kind: 'status'; status: number; body?: unknown }
  | { kind: 'refuse-connection' }
  | { kind: 'stall'; ms: number };

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** all request headers, lowercased (multi-valued joined with ", ") */
  headers: Record<string, string>;
  /** parsed JSON, parsed form (object) for x-www-form-urlencoded, else raw string ('' when empty) */
  body: unknown;
  rawBody: string;
  /** the raw body bytes (multipart uploads are binary) */
  bytes?: Buffer;
  /** resolved ChatGPT account id (null when unauthenticated) */
  accountId: string | null;
  transport: 'http' | 'websocket';
  at: number;
}

export interface AddAccountOptions extends TokenIdentity {
  /** catalog: slugs and/or partial entries; default gpt-5.4, gpt-5.4-mini, gpt-5.3-codex */
  models?: ReadonlyArray<string | ModelEntry>;
  accessExpiresInSec?: number;
  refreshToken?: string;
}

export interface AddedAccount extends FakeTokenSet {
  accountId: string;
}

export interface SetQuotaOptions extends Partial<QuotaState> {
  credits?: { hasCredits: boolean; unlimited?: boolean; balance: string };
}

export interface StartFakeUpstreamOptions {
  port?: number;
  /**
   * Reject what the real backend rejects (default true): unknown model for the
   * account (400 detail), missing `instructions` on /responses, and the
   * unsupported params max_output_tokens/temperature/top_p/
   * prompt_cache_retention/safety_identifier.
   */
  strict?: boolean;
}

interface DeviceCodeState {
  userCode: string;
  status: 'pending' | 'approved' | 'denied' | 'expired' | 'used';
  accountId: string | null;
  slowDownNext: boolean;
}

interface TokenEntry {
  accountId: string;
  expiresAt: number;
  expired: boolean;
}

type RefreshState = 'current' | 'used' | 'revoked';

interface AccountState {
  identity: TokenIdentity;
  planType: string;
  models: ModelEntry[];
  currentAccessToken: string;
  refreshToken: string;
  quota: QuotaState;
  credits: { hasCredits: boolean; unlimited: boolean; balance: string };
  scripts: ScriptedOutcome[];
  promptCacheKeys: Set<string>;
}

type AuthResult = { ok: true; account: AccountState } | { ok: false; status: number; body: JsonObject };

interface EventSink {
  send(event: JsonObject): void;
  end(): void;
  destroy(): void;
  closed(): boolean;
}

// ---------------------------------------------------------------- error bodies

const TOKEN_EXPIRED_BODY = {
  error: {
    message: 'Your authentication token has expired. Please try signing in again.',
    type: 'invalid_request_error',
    code: 'token_expired',
  },
};
const INVALID_KEY_BODY = {
  error: {
    message: 'Your authentication token is invalid. Please try signing in again.',
    type: 'invalid_request_error',
    code: 'invalid_api_key',
  },
};
const REFRESH_REUSED_BODY = {
  error: {
    message: 'Your refresh token has already been used to generate a new access token. Please try signing in again.',
    type: 'invalid_request_error',
    param: null,
    code: 'refresh_token_reused',
  },
};
const REFRESH_REVOKED_BODY = {
  error: {
    message: 'Your refresh token has been invalidated. Please try signing in again.',
    type: 'invalid_request_error',
    param: null,
    code: 'refresh_token_invalidated',
  },
};

function defaultStatusBody(status: number, planType: string): unknown {
  if (status === 401) return TOKEN_EXPIRED_BODY;
  if (status === 429) {
    const resetIn = 3600;
    return {
      error: {
        type: 'usage_limit_reached',
        code: 'usage_limit_reached',
        message: 'The usage limit has been reached',
        plan_type: planType,
        resets_at: nowSec() + resetIn,
        resets_in_seconds: resetIn,
      },
    };
  }
  if (status >= 500) {
    return { error: { message: 'An error occurred while processing your request.', type: 'server_error', code: 'server_error' } };
  }
  return { error: { message: `Scripted upstream status ${status}`, type: 'invalid_request_error', code: null } };
}

const NOT_FOUND_BODY = { detail: 'Not Found' };
const DEFAULT_TARGETS: ScriptTarget[] = ['responses', 'compact', 'websocket'];
const UNSUPPORTED_PARAMS = ['max_output_tokens', 'temperature', 'top_p', 'prompt_cache_retention', 'safety_identifier'];

// ---------------------------------------------------------------- helpers

function lowerHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

async function readBodyBytes(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw === '') return '';
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(raw));
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

function rawHttpResponse(socket: Duplex, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Bad Request'}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\nconnection: close\r\n\r\n${payload}`,
  );
}

function messageText(item: unknown): string {
  if (!isObject(item)) return '';
  if (typeof item.content === 'string') return item.content;
  if (!Array.isArray(item.content)) return '';
  return item.content.map((p) => (isObject(p) && typeof p.text === 'string' ? p.text : '')).join(' ');
}

/** Name of the first function tool if the last user input asks for `call_tool`. */
function toolCallName(body: JsonObject): string | null {
  if (!Array.isArray(body.tools)) return null;
  const tool = body.tools.find((t) => isObject(t) && t.type === 'function');
  if (!isObject(tool)) return null;
  const fn = isObject(tool.function) ? tool.function : tool;
  if (typeof fn.name !== 'string') return null;
  const input = body.input;
  let lastText = '';
  if (typeof input === 'string') lastText = input;
  else if (Array.isArray(input)) {
    const last: unknown = input[input.length - 1];
    if (isObject(last) && last.role === 'user') lastText = messageText(last);
  }
  return lastText.includes('call_tool') ? fn.name : null;
}

function scriptMatches(script: ScriptedOutcome, target: ScriptTarget): boolean {
  const on = script.on ?? DEFAULT_TARGETS;
  return Array.isArray(on) ? on.includes(target) : on === target;
}

// ---------------------------------------------------------------- the fake

export class FakeUpstream {
  readonly server: Server;
  readonly wss: WebSocketServer;
  url = '';
  readonly accounts = new Map<string, AccountState>();
  readonly requests: RecordedRequest[] = [];
  /** number of `grant_type=refresh_token` calls */
  tokenCalls = 0;
  /** number of `grant_type=authorization_code` calls */
  authCodeCalls = 0;
  /** streams whose client went away before the stream finished */
  abortedStreams = 0;
  /** websocket connections accepted */
  websocketConnections = 0;

  private readonly strict: boolean;
  private readonly tokenIndex = new Map<string, TokenEntry>();
  private readonly refreshIndex = new Map<string, { accountId: string; state: RefreshState }>();
  /** code → account, and for PKCE codes the S256 challenge and redirect_uri the exchange must match */
  private readonly authCodes = new Map<string, { accountId: string; codeChallenge?: string; redirectUri?: string }>();
  /** device_auth_id → device-code state (POST /api/accounts/deviceauth/*) */
  private readonly deviceCodes = new Map<string, DeviceCodeState>();
  private deviceIntervalSec = 5;
  private readonly tokenScripts: TokenScript[] = [];
  private readonly upgradeHeaders = new WeakMap<IncomingMessage, Record<string, string>>();
  /** files, transcription and images (test/support/fake-media.ts) */
  readonly media = new FakeMedia();
  private defaultDelayMs = 0;
  private eventDelayMs = 0;
  private tokenDelayMs = 0;
  private refreshedAccessTtlSec = 3600;
  private reply = DEFAULT_REPLY;

  constructor(opts: StartFakeUpstreamOptions = {}) {
    this.strict = opts.strict ?? true;
    this.server = createServer((req, res) => {
      this.handleHttp(req, res).catch((err: unknown) => {
        sendJson(res, 500, { detail: `fake upstream crashed: ${String(err)}` });
      });
    });
    this.server.keepAliveTimeout = 60_000;
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    this.wss.on('headers', (headers, req) => {
      for (const [k, v] of Object.entries(this.upgradeHeaders.get(req) ?? {})) headers.push(`${k}: ${v}`);
    });
    this.server.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket, head));
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    const addr = this.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('fake upstream: no address');
    this.url = `http://127.0.0.1:${addr.port}`;
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ------------------------------------------------------------ configuration API

  async addAccount(opts: AddAccountOptions): Promise<AddedAccount> {
    const tokens = await makeAuthJson(opts);
    const now = nowSec();
    const state: AccountState = {
      identity: { ...opts },
      planType: opts.planType ?? 'plus',
      models: buildCatalog(opts.models),
      currentAccessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      quota: { primaryUsedPercent: 10, secondaryUsedPercent: 5, primaryResetAt: now + 3 * 3600, secondaryResetAt: now + 5 * 86400 },
      credits: { hasCredits: false, unlimited: false, balance: '0' },
      scripts: [],
      promptCacheKeys: new Set(),
    };
    this.accounts.set(opts.accountId, state);
    this.tokenIndex.set(tokens.accessToken, { accountId: opts.accountId, expiresAt: tokens.accessExpiresAt, expired: false });
    this.refreshIndex.set(tokens.refreshToken, { accountId: opts.accountId, state: 'current' });
    return { ...tokens, accountId: opts.accountId };
  }

  /** Queue a scripted outcome for the next matching request on the account (FIFO). */
  script(accountId: string, outcome: ScriptedOutcome): void {
    this.account(accountId).scripts.push(outcome);
  }

  /** Queue a scripted outcome for the next `/oauth/token` call (any grant, FIFO). */
  scriptToken(outcome: TokenScript): void {
    this.tokenScripts.push(outcome);
  }

  /** Register a one-shot authorization code that exchanges to fresh tokens for the account. */
  scriptAuthorizationCode(code: string, accountId: string): void {
    this.account(accountId);
    this.authCodes.set(code, { accountId });
  }

  /**
   * Plays the operator's browser at `{issuer}/oauth/authorize`: reads the authorize URL the gateway
   * built, signs `accountId` in and answers the localhost callback URL the browser would end on,
   * with a one-shot code bound to the URL's S256 challenge and redirect_uri.
   */
  approveAuthorization(authorizeUrl: string, accountId: string): string {
    this.account(accountId);
    const url = new URL(authorizeUrl);
    const challenge = url.searchParams.get('code_challenge');
    const redirectUri = url.searchParams.get('redirect_uri');
    if (url.searchParams.get('client_id') !== CODEX_CLIENT_ID) throw new Error('fake issuer: unknown client_id');
    if (url.searchParams.get('code_challenge_method') !== 'S256' || !challenge || !redirectUri) throw new Error('fake issuer: authorize URL lacks S256 PKCE or redirect_uri');
    const code = `ac_${randomBytes(16).toString('base64url')}`;
    this.authCodes.set(code, { accountId, codeChallenge: challenge, redirectUri });
    const callback = new URL(redirectUri);
    callback.searchParams.set('code', code);
    callback.searchParams.set('state', url.searchParams.get('state') ?? '');
    return callback.toString();
  }

  /** `interval` the usercode endpoint announces (a string, as ChatGPT sends it). */
  setDeviceIntervalSec(sec: number): void {
    this.deviceIntervalSec = sec;
  }

  /** Device codes issued so far (newest last), e.g. to approve the one a test started. */
  deviceCodeList(): Array<{ userCode: string; status: DeviceCodeState['status'] }> {
    return [...this.deviceCodes.values()].map((d) => ({ userCode: d.userCode, status: d.status }));
  }

  /** The account owner enters the code and approves: the next poll answers the authorization code. */
  approveDevice(userCode: string, accountId: string): void {
    this.account(accountId);
    const device = this.deviceByUserCode(userCode);
    device.status = 'approved';
    device.accountId = accountId;
  }

  denyDevice(userCode: string): void {
    this.deviceByUserCode(userCode).status = 'denied';
  }

  expireDevice(userCode: string): void {
    this.deviceByUserCode(userCode).status = 'expired';
  }

  /** The next poll of this code answers `slow_down`. */
  slowDownDevice(userCode: string): void {
    this.deviceByUserCode(userCode).slowDownNext = true;
  }

  private deviceByUserCode(userCode: string): DeviceCodeState {
    const device = [...this.deviceCodes.values()].find((d) => d.userCode === userCode);
    if (!device) throw new Error(`fake issuer: unknown user code ${userCode}`);
    return device;
  }

  setQuota(accountId: string, quota: SetQuotaOptions): void {
    const acc = this.account(accountId);
    const { credits, ...windows } = quota;
    acc.quota = { ...acc.quota, ...windows };
    if (credits) acc.credits = { hasCredits: credits.hasCredits, unlimited: credits.unlimited ?? false, balance: credits.balance };
  }

  setModels(accountId: string, models: ReadonlyArray<string | ModelEntry>): void {
    this.account(accountId).models = buildCatalog(models);
  }

  /** Delay before response headers on every /responses(/compact) and websocket turn. */
  setDefaultDelayMs(ms: number): void {
    this.defaultDelayMs = ms;
  }

  /** Delay between streamed events (SSE and websocket). */
  setEventDelayMs(ms: number): void {
    this.eventDelayMs = ms;
  }

  setTokenDelayMs(ms: number): void {
    this.tokenDelayMs = ms;
  }

  /** `exp` lifetime of access tokens minted by /oauth/token (default 3600). */
  setRefreshedAccessTtlSec(sec: number): void {
    this.refreshedAccessTtlSec = sec;
  }

  setReply(text: string): void {
    this.reply = text;
  }

  accessTokenOf(accountId: string): string {
    return this.account(accountId).currentAccessToken;
  }

  refreshTokenOf(accountId: string): string {
    return this.account(accountId).refreshToken;
  }

  /** Every access token of the account becomes expired (next call → 401 token_expired). */
  expireAccessToken(accountId: string): void {
    this.account(accountId);
    for (const entry of this.tokenIndex.values()) if (entry.accountId === accountId) entry.expired = true;
  }

  /** The current refresh token is revoked (next refresh → 401 refresh_token_invalidated). */
  revokeRefreshToken(accountId: string): void {
    const entry = this.refreshIndex.get(this.account(accountId).refreshToken);
    if (entry) entry.state = 'revoked';
  }

  /** Clear recorded requests, counters and pending scripts (accounts and tokens stay). */
  reset(): void {
    this.requests.length = 0;
    this.tokenCalls = 0;
    this.authCodeCalls = 0;
    this.abortedStreams = 0;
    this.websocketConnections = 0;
    this.tokenScripts.length = 0;
    for (const acc of this.accounts.values()) acc.scripts.length = 0;
    this.media.reset();
  }

  /** Recorded requests whose path ends with `suffix` (e.g. '/codex/responses'). */
  requestsTo(suffix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith(suffix));
  }

  private account(accountId: string): AccountState {
    const acc = this.accounts.get(accountId);
    if (!acc) throw new Error(`fake upstream: unknown account ${accountId}`);
    return acc;
  }

  private takeScript(acc: AccountState, target: ScriptTarget): ScriptedOutcome | undefined {
    const i = acc.scripts.findIndex((s) => scriptMatches(s, target));
    return i < 0 ? undefined : acc.scripts.splice(i, 1)[0];
  }

  // ------------------------------------------------------------ auth

  private authenticate(headers: Record<string, string>): AuthResult {
    const match = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
    const entry = match?.[1] ? this.tokenIndex.get(match[1].trim()) : undefined;
    const acc = entry ? this.accounts.get(entry.accountId) : undefined;
    if (!entry || !acc) return { ok: false, status: 401, body: INVALID_KEY_BODY };
    const headerAccount = headers['chatgpt-account-id'];
    if (headerAccount !== undefined && headerAccount !== entry.accountId) return { ok: false, status: 401, body: INVALID_KEY_BODY };
    if (entry.expired || entry.expiresAt <= nowSec()) return { ok: false, status: 401, body: TOKEN_EXPIRED_BODY };
    return { ok: true, account: acc };
  }

  private quotaHeaders(acc: AccountState): Record<string, string> {
    const q = acc.quota;
    return {
      'x-codex-primary-used-percent': String(q.primaryUsedPercent),
      'x-codex-primary-window-minutes': '300',
      'x-codex-primary-reset-at': String(q.primaryResetAt),
      'x-codex-secondary-used-percent': String(q.secondaryUsedPercent),
      'x-codex-secondary-window-minutes': '10080',
      'x-codex-secondary-reset-at': String(q.secondaryResetAt),
    };
  }

  private modelsEtag(acc: AccountState): string {
    const hash = createHash('sha256').update(JSON.stringify(acc.models)).digest('hex').slice(0, 16);
    return `W/"fake-models-${hash}"`;
  }

  private responseHeaders(acc: AccountState, clientHeaders: Record<string, string>, model: unknown): Record<string, string> {
    const headers: Record<string, string> = {
      ...this.quotaHeaders(acc),
      'x-request-id': newId('req', 16),
      'x-codex-turn-state': clientHeaders['x-codex-turn-state'] || randomUUID(),
      'x-models-etag': this.modelsEtag(acc),
    };
    if (typeof model === 'string' && model !== '') headers['openai-model'] = model;
    return headers;
  }

  // ------------------------------------------------------------ HTTP routing

  private async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const headers = lowerHeaders(req);
    const bytes = await readBodyBytes(req);
    const rawBody = bytes.toString('utf8');
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: parseBody(rawBody, headers['content-type']),
      rawBody,
      bytes,
      accountId: null,
      transport: 'http',
      at: Date.now(),
    };
    this.requests.push(record);
    const route = `${record.method} ${url.pathname.replace(/\/+$/, '')}`;
    const storageUpload = /^PUT \/fake-storage\/([^/]+)$/.exec(route);
    if (storageUpload) return this.media.storeUpload(res, storageUpload[1]!, record);
    const finalize = /^POST \/backend-api\/files\/([^/]+)\/uploaded$/.exec(route);
    if (finalize) return this.withAuth(res, record, async (acc) => this.media.finalize(res, acc.identity.accountId, decodeURIComponent(finalize[1]!)));

    switch (route) {
      case 'POST /oauth/token':
        return this.handleToken(req, res, record);
      case 'POST /api/accounts/deviceauth/usercode':
        return this.handleDeviceUserCode(res, record);
      case 'POST /api/accounts/deviceauth/token':
        return this.handleDeviceToken(res, record);
      case 'POST /backend-api/codex/responses':
        return this.withAuth(res, record, (acc) => this.handleResponses(req, res, acc, record, 'responses'));
      case 'POST /backend-api/codex/responses/compact':
        return this.withAuth(res, record, (acc) => this.handleResponses(req, res, acc, record, 'compact'));
      case 'GET /backend-api/codex/models':
        return this.withAuth(res, record, (acc) => this.handleModels(req, res, acc));
      case 'GET /backend-api/wham/usage':
      case 'GET /backend-api/codex/usage':
      case 'GET /api/codex/usage':
        return this.withAuth(res, record, (acc) => this.handleUsage(req, res, acc));
      case 'POST /backend-api/transcribe':
        return this.withAuth(res, record, (_acc) => this.media.transcribe(res, record));
      case 'POST /backend-api/files':
        return this.withAuth(res, record, async (acc) => this.media.createFile(res, acc.identity.accountId, record, this.url));
      case 'POST /backend-api/codex/images/generations':
      case 'POST /backend-api/codex/images/edits':
        return this.withAuth(res, record, async () => this.media.nativeImages(res, record));
      default:
        sendJson(res, 404, NOT_FOUND_BODY);
    }
  }

  private async withAuth(res: ServerResponse, record: RecordedRequest, fn: (acc: AccountState) => Promise<void>): Promise<void> {
    const auth = this.authenticate(record.headers);
    if (!auth.ok) return sendJson(res, auth.status, auth.body, { 'x-request-id': newId('req', 16) });
    record.accountId = auth.account.identity.accountId;
    return fn(auth.account);
  }

  /**
   * Applies the generic part of a scripted outcome (delay, status, refuse, non-json).
   * Returns true when the request has been fully answered.
   */
  private async applyHttpScript(
    req: IncomingMessage,
    res: ServerResponse,
    acc: AccountState,
    script: ScriptedOutcome | undefined,
    headers: Record<string, string>,
  ): Promise<boolean> {
    if (script?.kind === 'stall') await sleep(script.ms);
    if (script?.kind === 'refuse-connection') {
      req.socket.destroy();
      return true;
    }
    if (script?.kind === 'status') {
      sendJson(res, script.status, script.body ?? defaultStatusBody(script.status, acc.planType), { ...headers, ...script.headers });
      return true;
    }
    if (script?.kind === 'non-json') {
      res.writeHead(200, { ...headers, 'content-type': 'application/json' });
      res.end('not json');
      return true;
    }
    return false;
  }

  private async handleModels(req: IncomingMessage, res: ServerResponse, acc: AccountState): Promise<void> {
    const headers = { 'x-request-id': newId('req', 16), etag: this.modelsEtag(acc), 'x-models-etag': this.modelsEtag(acc) };
    if (await this.applyHttpScript(req, res, acc, this.takeScript(acc, 'models'), headers)) return;
    sendJson(res, 200, { models: acc.models }, headers);
  }

  private async handleUsage(req: IncomingMessage, res: ServerResponse, acc: AccountState): Promise<void> {
    const headers = { 'x-request-id': newId('req', 16) };
    if (await this.applyHttpScript(req, res, acc, this.takeScript(acc, 'usage'), headers)) return;
    sendJson(res, 200, this.usageDocument(acc), headers);
  }

  private usageDocument(acc: AccountState): JsonObject {
    const now = nowSec();
    const q = acc.quota;
    const window = (used: number, seconds: number, resetAt: number): JsonObject => ({
      used_percent: used,
      limit_window_seconds: seconds,
      reset_after_seconds: Math.max(0, resetAt - now),
      reset_at: resetAt,
    });
    const limitReached = q.primaryUsedPercent >= 100 || q.secondaryUsedPercent >= 100;
    return {
      plan_type: acc.planType,
      rate_limit: {
        allowed: !limitReached,
        limit_reached: limitReached,
        primary_window: window(q.primaryUsedPercent, 18000, q.primaryResetAt),
        secondary_window: window(q.secondaryUsedPercent, 604800, q.secondaryResetAt),
      },
      credits: { has_credits: acc.credits.hasCredits, unlimited: acc.credits.unlimited, balance: acc.credits.balance },
    };
  }

  // ------------------------------------------------------------ /responses and /responses/compact

  /** Validation the real backend performs; returns an error [status, body] or null. */
  private validateTurn(acc: AccountState, body: JsonObject, target: 'responses' | 'compact' | 'websocket'): [number, JsonObject] | null {
    if (target === 'compact') {
      if (!Array.isArray(body.input) || body.input.length === 0) {
        return [400, { error: { message: 'input must be a non-empty array', type: 'invalid_request_error', param: 'input', code: 'invalid_value' } }];
      }
    } else if (body.input !== undefined && typeof body.input !== 'string' && !Array.isArray(body.input)) {
      return [400, { error: { message: 'input must be an array', type: 'invalid_request_error', param: 'input', code: 'invalid_type' } }];
    }
    if (!this.strict) return null;
    const model = typeof body.model === 'string' ? body.model : '';
    if (!acc.models.some((m) => m.slug === model)) {
      return [400, { detail: `The '${model}' model is not supported when using Codex with a ChatGPT account.` }];
    }
    if (target !== 'compact') {
      if (typeof body.instructions !== 'string') return [400, { detail: 'Instructions are required' }];
      const bad = UNSUPPORTED_PARAMS.find((p) => p in body);
      if (bad) return [400, { detail: `Unsupported parameter: ${bad}` }];
    }
    // Nothing is stored upstream for a store:false HTTP turn, so a reference cannot resolve (as the real API answers).
    const reference = target === 'responses' && body.store !== true && Array.isArray(body.input) ? body.input.find((item) => isObject(item) && item.type === 'item_reference') : undefined;
    if (isObject(reference)) {
      const message = `Item with id '${String(reference.id)}' not found. Items are not persisted when \`store\` is set to false. Try again with \`store\` set to true, or remove this item from your input.`;
      return [404, { error: { message, type: 'invalid_request_error', param: 'input', code: null } }];
    }
    return null;
  }

  private buildPlan(acc: AccountState, body: JsonObject, bytes: number): ResponsePlan {
    const toolName = toolCallName(body);
    const output: OutputPlan = toolName
      ? { kind: 'function_call', name: toolName, arguments: TOOL_CALL_ARGUMENTS }
      : { kind: 'text', text: this.reply };
    const cacheKey = typeof body.prompt_cache_key === 'string' ? body.prompt_cache_key : null;
    const cacheHit = cacheKey !== null && acc.promptCacheKeys.has(cacheKey);
    if (cacheKey !== null) acc.promptCacheKeys.add(cacheKey);
    const include = Array.isArray(body.include) ? body.include : [];
    const reasoning = include.includes('reasoning.encrypted_content');
    const outText = output.kind === 'text' ? output.text : output.arguments;
    return {
      responseId: newId('resp', 24),
      createdAt: nowSec(),
      model: typeof body.model === 'string' ? body.model : 'gpt-5.4',
      planType: acc.planType,
      request: body,
      output,
      reasoning,
      usage: makeUsage(bytes, outText, reasoning, cacheHit),
      quota: { ...acc.quota },
    };
  }

  private async handleResponses(
    req: IncomingMessage,
    res: ServerResponse,
    acc: AccountState,
    record: RecordedRequest,
    target: 'responses' | 'compact',
  ): Promise<void> {
    const body = isObject(record.body) ? record.body : null;
    const headers = this.responseHeaders(acc, record.headers, body?.model);
    const script = this.takeScript(acc, target);
    if (this.defaultDelayMs > 0) await sleep(this.defaultDelayMs);
    if (await this.applyHttpScript(req, res, acc, script, headers)) return;
    if (body === null) return sendJson(res, 400, { detail: 'Request body must be a JSON object' }, headers);
    const invalid = this.validateTurn(acc, body, target);
    if (invalid) return sendJson(res, invalid[0], invalid[1], headers);
    if (target === 'responses' && isImageTurn(body)) return this.media.streamImageTurn(res, body, headers);

    const plan = this.buildPlan(acc, body, Buffer.byteLength(record.rawBody));
    if (target === 'compact') return this.sendCompact(res, plan, headers, script);
    const stream = body.stream === true || (record.headers.accept ?? '').includes('text/event-stream');
    if (stream) return this.streamSse(res, plan, headers, script);
    return this.sendFinalJson(res, plan, headers, script);
  }

  private async sendCompact(res: ServerResponse, plan: ResponsePlan, headers: Record<string, string>, script: ScriptedOutcome | undefined): Promise<void> {
    const body = {
      output: [{ type: 'compaction', id: newId('cmp', 16), encrypted_content: `gAAAAA${newId('enc', 48).slice(4)}` }],
      usage: plan.usage,
    };
    await this.sendJsonScripted(res, body, headers, script);
  }

  private async sendFinalJson(res: ServerResponse, plan: ResponsePlan, headers: Record<string, string>, script: ScriptedOutcome | undefined): Promise<void> {
    let body: JsonObject;
    if (script?.kind === 'first-event-failure' || script?.kind === 'stream-failure') {
      body = (failedEvent(plan, script.code, script.message).response as JsonObject);
    } else {
      body = responseObject(plan, 'completed', finalOutput(plan, makeOutputIds(plan)), plan.usage);
    }
    await this.sendJsonScripted(res, body, headers, script);
  }

  /** 200 JSON honouring mid-body scripts (stall-mid-stream, eof-after-delta). */
  private async sendJsonScripted(res: ServerResponse, body: unknown, headers: Record<string, string>, script: ScriptedOutcome | undefined): Promise<void> {
    const payload = JSON.stringify(body);
    if (script?.kind !== 'stall-mid-stream' && script?.kind !== 'eof-after-delta') {
      return sendJson(res, 200, body, headers);
    }
    res.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    const half = Math.floor(payload.length / 2);
    res.write(payload.slice(0, half));
    if (script.kind === 'eof-after-delta') {
      res.destroy();
      return;
    }
    await sleep(script.ms);
    if (!res.destroyed) res.end(payload.slice(half));
  }

  /** The event list a (possibly scripted) turn emits, plus where to stall. */
  private turnEvents(plan: ResponsePlan, script: ScriptedOutcome | undefined): { events: JsonObject[]; terminal: boolean } {
    if (script?.kind === 'first-event-failure') {
      return { events: sequence([failedEvent(plan, script.code, script.message)]), terminal: true };
    }
    const full = successEvents(plan, makeOutputIds(plan));
    const firstDelta = full.findIndex(isDeltaEvent);
    if (script?.kind === 'stream-failure') {
      const head = script.afterDelta ? full.slice(0, firstDelta + 1) : preambleEvents(plan);
      return { events: sequence([...head, failedEvent(plan, script.code, script.message)]), terminal: true };
    }
    if (script?.kind === 'eof-after-delta') return { events: sequence(full.slice(0, firstDelta + 1)), terminal: false };
    return { events: sequence(full), terminal: true };
  }

  private async runTurn(plan: ResponsePlan, script: ScriptedOutcome | undefined, sink: EventSink): Promise<void> {
    const { events, terminal } = this.turnEvents(plan, script);
    let stalled = false;
    for (const event of events) {
      if (sink.closed()) {
        this.abortedStreams++;
        return;
      }
      sink.send(event);
      if (script?.kind === 'stall-mid-stream' && !stalled && isDeltaEvent(event)) {
        stalled = true;
        await sleep(script.ms);
      } else if (this.eventDelayMs > 0) {
        await sleep(this.eventDelayMs);
      } else {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    if (sink.closed()) {
      this.abortedStreams++;
      return;
    }
    if (!terminal && script?.kind === 'eof-after-delta' && script.abrupt) sink.destroy();
    else sink.end();
  }

  private async streamSse(res: ServerResponse, plan: ResponsePlan, headers: Record<string, string>, script: ScriptedOutcome | undefined): Promise<void> {
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    await this.runTurn(plan, script, {
      send: (event) => void res.write(sseFrame(event)),
      end: () => res.end(),
      destroy: () => res.destroy(),
      closed: () => closed || res.destroyed,
    });
  }

  // ------------------------------------------------------------ /oauth/token

  private async handleToken(req: IncomingMessage, res: ServerResponse, record: RecordedRequest): Promise<void> {
    const form = isObject(record.body) ? record.body : {};
    const grant = String(form.grant_type ?? '');
    if (grant === 'refresh_token') this.tokenCalls++;
    if (grant === 'authorization_code') this.authCodeCalls++;
    if (this.tokenDelayMs > 0) await sleep(this.tokenDelayMs);

    const script = this.tokenScripts.shift();
    if (script?.kind === 'stall') await sleep(script.ms);
    if (script?.kind === 'refuse-connection') return void req.socket.destroy();
    if (script?.kind === 'status') {
      return sendJson(res, script.status, script.body ?? { error: 'server_error', error_description: 'scripted token failure' });
    }
    if (typeof form.client_id !== 'string' || form.client_id === '') {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'client_id is required' });
    }
    if (grant === 'refresh_token') return this.refreshGrant(res, String(form.refresh_token ?? ''));
    if (grant === 'authorization_code') return this.authorizationCodeGrant(res, form);
    sendJson(res, 400, { error: 'unsupported_grant_type', error_description: `grant_type ${grant} is not supported` });
  }

  private async refreshGrant(res: ServerResponse, refreshToken: string): Promise<void> {
    const entry = this.refreshIndex.get(refreshToken);
    if (!entry) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid refresh token' });
    if (entry.state === 'used') return sendJson(res, 401, REFRESH_REUSED_BODY);
    if (entry.state === 'revoked') return sendJson(res, 401, REFRESH_REVOKED_BODY);
    entry.state = 'used'; // synchronously, before any await: concurrent callers see reuse
    const acc = this.account(entry.accountId);
    sendJson(res, 200, await this.rotateTokens(acc));
  }

  private async authorizationCodeGrant(res: ServerResponse, form: JsonObject): Promise<void> {
    const code = String(form.code ?? '');
    const entry = this.authCodes.get(code);
    if (entry === undefined) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid authorization code' });
    if (entry.codeChallenge !== undefined) {
      const verifier = typeof form.code_verifier === 'string' ? form.code_verifier : '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (challenge !== entry.codeChallenge) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'code_verifier does not match the code challenge' });
      if (form.redirect_uri !== entry.redirectUri) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'redirect_uri does not match' });
    }
    const accountId = entry.accountId;
    this.authCodes.delete(code);
    const acc = this.account(accountId);
    const previous = this.refreshIndex.get(acc.refreshToken);
    if (previous?.state === 'current') previous.state = 'revoked';
    sendJson(res, 200, await this.rotateTokens(acc));
  }

  /** Mint and register a fresh access/refresh/id token triple for the account. */
  private async rotateTokens(acc: AccountState): Promise<JsonObject> {
    const ttl = this.refreshedAccessTtlSec;
    const refreshToken = makeRefreshToken();
    acc.refreshToken = refreshToken;
    this.refreshIndex.set(refreshToken, { accountId: acc.identity.accountId, state: 'current' });
    const accessToken = await makeAccessTokenFor(acc.identity, ttl);
    const idToken = await makeIdToken(acc.identity);
    acc.currentAccessToken = accessToken;
    this.tokenIndex.set(accessToken, { accountId: acc.identity.accountId, expiresAt: nowSec() + ttl, expired: false });
    return {
      access_token: accessToken,
      refresh_token: refreshToken,
      id_token: idToken,
      expires_in: ttl,
      token_type: 'Bearer',
      scope: 'openid profile email offline_access',
    };
  }

  // ------------------------------------------------------------ /api/accounts/deviceauth

  private handleDeviceUserCode(res: ServerResponse, record: RecordedRequest): void {
    const body = isObject(record.body) ? record.body : {};
    if (body.client_id !== CODEX_CLIENT_ID) return sendJson(res, 400, { error: 'invalid_request', error_description: 'unknown client_id' });
    const deviceAuthId = `deviceauth_${randomBytes(12).toString('hex')}`;
    const userCode = `${randomBytes(2).toString('hex')}-${randomBytes(3).toString('hex')}`.toUpperCase();
    this.deviceCodes.set(deviceAuthId, { userCode, status: 'pending', accountId: null, slowDownNext: false });
    sendJson(res, 200, { device_auth_id: deviceAuthId, user_code: userCode, interval: String(this.deviceIntervalSec) });
  }

  /** Pending = 403 (what ChatGPT answers until the code is approved); then the code + verifier once. */
  private handleDeviceToken(res: ServerResponse, record: RecordedRequest): void {
    const body = isObject(record.body) ? record.body : {};
    const device = this.deviceCodes.get(String(body.device_auth_id ?? ''));
    if (!device || device.userCode !== body.user_code) return sendJson(res, 404, { error: { message: 'Device authorization not found', code: 'deviceauth_not_found' } });
    if (device.slowDownNext) {
      device.slowDownNext = false;
      return sendJson(res, 400, { error: 'slow_down', error_description: 'polling too fast' });
    }
    if (device.status === 'denied') return sendJson(res, 400, { error: 'access_denied', error_description: 'the user denied the request' });
    if (device.status === 'expired' || device.status === 'used') return sendJson(res, 400, { error: 'expired_token', error_description: 'the device code expired' });
    if (device.status === 'pending') return sendJson(res, 403, { error: { message: 'Device authorization is pending', code: 'deviceauth_authorization_pending' } });
    device.status = 'used';
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const code = `ac_${randomBytes(16).toString('base64url')}`;
    this.authCodes.set(code, { accountId: device.accountId!, codeChallenge: challenge, redirectUri: `${this.url}/deviceauth/callback` });
    sendJson(res, 200, { authorization_code: code, code_challenge: challenge, code_verifier: verifier });
  }

  // ------------------------------------------------------------ websocket

  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const headers = lowerHeaders(req);
    const record: RecordedRequest = {
      method: 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: '',
      rawBody: '',
      accountId: null,
      transport: 'websocket',
      at: Date.now(),
    };
    this.requests.push(record);
    if (url.pathname.replace(/\/+$/, '') !== '/backend-api/codex/responses') return rawHttpResponse(socket, 404, NOT_FOUND_BODY);
    const auth = this.authenticate(headers);
    if (!auth.ok) return rawHttpResponse(socket, auth.status, auth.body);
    if (!(headers['openai-beta'] ?? '').includes(WEBSOCKET_BETA)) {
      return rawHttpResponse(socket, 400, { detail: `websocket requires openai-beta: ${WEBSOCKET_BETA}` });
    }
    const acc = auth.account;
    record.accountId = acc.identity.accountId;
    this.upgradeHeaders.set(req, this.responseHeaders(acc, headers, undefined));
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.websocketConnections++;
      ws.on('message', (data, isBinary) => {
        this.onWsMessage(ws, acc, record, data, isBinary).catch(() => ws.terminate());
      });
    });
  }

  private async onWsMessage(ws: WebSocket, acc: AccountState, upgrade: RecordedRequest, data: RawData, isBinary: boolean): Promise<void> {
    const raw = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    const body = parseBody(raw, 'application/json');
    this.requests.push({ ...upgrade, method: 'WS', body, rawBody: raw, at: Date.now() });
    const sendError = (status: number, error: unknown): void =>
      ws.send(JSON.stringify({ type: 'error', status, error, headers: this.quotaHeaders(acc) }));
    if (isBinary || !isObject(body)) return sendError(400, { type: 'invalid_request_error', code: 'invalid_request', message: 'message must be a JSON object', param: null });
    if (body.type !== 'response.create') return; // response.processed and friends: accepted silently

    const script = this.takeScript(acc, 'websocket');
    if (this.defaultDelayMs > 0) await sleep(this.defaultDelayMs);
    if (script?.kind === 'stall') await sleep(script.ms);
    if (script?.kind === 'refuse-connection') return ws.terminate();
    if (script?.kind === 'non-json') return ws.send('not json');
    if (script?.kind === 'auth-error-event') {
      this.expireAccessToken(acc.identity.accountId);
      return sendError(401, { ...INVALID_KEY_BODY.error, code: script.code, param: null });
    }
    if (script?.kind === 'status') {
      const errBody = script.body ?? defaultStatusBody(script.status, acc.planType);
      return sendError(script.status, isObject(errBody) && 'error' in errBody ? errBody.error : errBody);
    }
    const invalid = this.validateTurn(acc, body, 'websocket');
    if (invalid) {
      const [status, err] = invalid;
      return sendError(status, isObject(err.error) ? err.error : { type: 'invalid_request_error', code: 'invalid_request', message: String(err.detail), param: null });
    }
    const plan = this.buildPlan(acc, body, Buffer.byteLength(raw));
    await this.runTurn(plan, script, {
      send: (event) => ws.send(JSON.stringify(event)),
      end: () => undefined,
      destroy: () => ws.terminate(),
      closed: () => ws.readyState !== ws.OPEN,
    });
  }
}

/** Start a fake ChatGPT Codex upstream on 127.0.0.1 (port 0 = ephemeral). */
export async function startFakeUpstream(opts: StartFakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const fake = new FakeUpstream(opts);
  await fake.listen(opts.port ?? 0);
  return fake;
}

export { CODEX_CLIENT_ID };
