import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { generateSync } from 'otplib';
import { parseConfig } from '../../src/config/index.ts';
import { migrateToLatest, openDatabase, type DatabaseHandle, type Db } from '../../src/db/index.ts';
import { buildApp } from '../../src/http/app.ts';
import { DrainState } from '../../src/http/drain.ts';
import { createLogger } from '../../src/http/logger.ts';
import { createServices, type Services } from '../../src/services.ts';
import { createScratchDatabase, type ScratchDatabase } from './database.ts';
import type { FakeUpstream } from './fake-upstream.ts';
import { TEST_SECRETS } from './gateway.ts';

export type AdminHarness = {
  app: FastifyInstance;
  services: Services;
  db: Db;
  /** Every log line the app wrote (level info and up), raw JSON text. */
  logs: string[];
  url: string;
  drain: DrainState;
  close(): Promise<void>;
};

/**
 * The whole app (gateway + admin API) on its own scratch database, so each test file bootstraps
 * its own instance owner. Logs go to an array the test can search for leaked secrets.
 */
export async function startAdminHarness(options: { upstream?: FakeUpstream; listen?: boolean; env?: Record<string, string> } = {}): Promise<AdminHarness> {
  const scratch: ScratchDatabase = await createScratchDatabase('admin');
  const config = parseConfig({
    ...TEST_SECRETS,
    DATABASE_URL: scratch.url,
    POOL_SIZE: '4',
    CODEX_POOLER_UPSTREAM_BASE_URL: options.upstream?.url ?? 'http://127.0.0.1:9',
    CODEX_POOLER_AUTH_ISSUER: options.upstream?.url ?? 'http://127.0.0.1:9',
    LOG_LEVEL: 'info',
    ...options.env,
  });
  const logs: string[] = [];
  const log = createLogger({ level: 'info', destination: { write: (line: string) => logs.push(line) } as unknown as NodeJS.WritableStream });
  const handle: DatabaseHandle = await openDatabase(config.database, { onError: () => {} });
  await migrateToLatest(handle.db);
  const services = createServices(config, handle, log);
  await services.listen();
  const drain = new DrainState(null);
  const app = await buildApp({ services, drain, version: 'test', connectionCloseGraceMs: 200 });
  let url = '';
  if (options.listen) {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  } else await app.ready();
  return {
    app,
    services,
    db: handle.db,
    logs,
    url,
    drain,
    async close() {
      await app.close();
      await services.close();
      await handle.close();
      await scratch.drop();
    },
  };
}

export type AdminResponse<T = any> = { status: number; body: T; headers: Record<string, string | number | string[] | undefined>; raw: string };

/** A browser stand-in: keeps the session cookie, sends the CSRF header on mutations, has its own IP. */
export class AdminClient {
  cookie: string | null = null;
  csrf: string | null = null;
  readonly ip: string;
  readonly #app: FastifyInstance;
  /** Every raw response body this client saw, for leak checks. */
  readonly seen: string[] = [];

  constructor(app: FastifyInstance, ip = `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${1 + (randomBytes(1)[0]! % 250)}`) {
    this.#app = app;
    this.ip = ip;
  }

  async call<T = any>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown, options: { csrf?: boolean; headers?: Record<string, string> } = {}): Promise<AdminResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.cookie) headers.cookie = this.cookie;
    if (method !== 'GET' && options.csrf !== false && this.csrf) headers['x-csrf-token'] = this.csrf;
    const response = await this.#app.inject({ method, url: `/api/admin${url}`, headers, remoteAddress: this.ip, ...(body === undefined ? {} : { payload: body as object }) });
    this.seen.push(response.body);
    const setCookie = response.headers['set-cookie'];
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const [pair] = line.split(';');
      this.cookie = /Max-Age=0/.test(line) ? null : pair!;
    }
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(response.body);
    } catch {
      parsed = response.body;
    }
    const csrf = (parsed as { csrf_token?: unknown } | null)?.csrf_token;
    if (typeof csrf === 'string') this.csrf = csrf;
    return { status: response.statusCode, body: parsed as T, headers: response.headers, raw: response.body };
  }

  get = <T = any>(url: string) => this.call<T>('GET', url);
  post = <T = any>(url: string, body: unknown = {}) => this.call<T>('POST', url, body);

  async login(email: string, password: string, extra: Record<string, string> = {}): Promise<AdminResponse> {
    return this.post('/session', { email, password, ...extra });
  }
}

/** The current code for a base32 secret, made with otplib exactly as the crypto module checks it. */
export const totpCodeFor = (secret: string, offsetSeconds = 0): string => generateSync({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSeconds });

export const uniqueEmail = (label: string) => `${label}-${randomBytes(3).toString('hex')}@example.com`;

export const OWNER_PASSWORD = 'owner password 1234';

/** Bootstraps the instance owner through the API and answers a signed-in client. */
export async function bootstrapOwnerClient(harness: AdminHarness, email = 'owner@example.com'): Promise<AdminClient> {
  const owner = new AdminClient(harness.app);
  const response = await owner.post('/bootstrap', { email, password: OWNER_PASSWORD, display_name: 'Owner' });
  if (response.status !== 201) throw new Error(`bootstrap failed: ${response.status} ${response.raw}`);
  return owner;
}
