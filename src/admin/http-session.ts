import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { deriveKey, signPayload, verifySignature } from '../crypto/index.ts';
import { PoolerError } from '../errors.ts';
import { csrfTokenMatches, loadScope, resolveSession, type ClientContext, type IssuedSession, type OperatorScope, type SignedInSession } from '../operators/index.ts';
import type { Services } from '../services.ts';

/** Who may call a route: nobody signed in, a session half-way through TOTP, one that must change its password, or a full operator. */
export type AdminAccess = 'public' | 'pending' | 'password_change' | 'operator';

declare module 'fastify' {
  interface FastifyRequest {
    adminSession: SignedInSession | null;
    adminScope: OperatorScope | null;
  }
  interface FastifyContextConfig {
    adminAccess?: AdminAccess;
    /** False only for sign-in and bootstrap, which start a session rather than act within one. */
    csrf?: boolean;
  }
}

export const SESSION_COOKIE = '_codex_pooler_key';
const COOKIE_MAX_AGE_S = 14 * 24 * 60 * 60;
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function clientOf(request: FastifyRequest): ClientContext {
  const agent = request.headers['user-agent'];
  return { ipAddress: request.ip ?? null, userAgent: typeof agent === 'string' ? agent : null, correlationId: String(request.id) };
}

function readCookie(request: FastifyRequest, name: string): string | null {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

const isHttps = (request: FastifyRequest): boolean =>
  request.protocol === 'https' || String(request.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim().toLowerCase() === 'https';

/** The session cookie: `<token>.<HMAC(token)>`, signed with a key derived from SECRET_KEY_BASE. */
export function createCookieJar(secretKeyBase: string) {
  const key = deriveKey(secretKeyBase, 'admin-session-cookie');
  const attributes = (request: FastifyRequest) => `Path=/; HttpOnly; SameSite=Lax${isHttps(request) ? '; Secure' : ''}`;
  return {
    tokenFrom(request: FastifyRequest): string | null {
      const raw = readCookie(request, SESSION_COOKIE);
      if (!raw) return null;
      const dot = raw.lastIndexOf('.');
      if (dot <= 0) return null;
      const token = raw.slice(0, dot);
      return verifySignature(key, [token], raw.slice(dot + 1)) ? token : null;
    },
    hasCookie: (request: FastifyRequest): boolean => readCookie(request, SESSION_COOKIE) !== null,
    set(request: FastifyRequest, reply: FastifyReply, session: IssuedSession): void {
      const maxAge = Math.max(1, Math.min(COOKIE_MAX_AGE_S, Math.floor((session.expiresAt.getTime() - Date.now()) / 1000)));
      reply.header('set-cookie', `${SESSION_COOKIE}=${session.token}.${signPayload(key, [session.token])}; Max-Age=${maxAge}; ${attributes(request)}`);
    },
    clear(request: FastifyRequest, reply: FastifyReply): void {
      reply.header('set-cookie', `${SESSION_COOKIE}=; Max-Age=0; ${attributes(request)}`);
    },
  };
}

export type CookieJar = ReturnType<typeof createCookieJar>;

/**
 * Every admin request passes here: the cookie's session is resolved once, then each route's
 * `adminAccess` is enforced, CSRF is checked on every mutation made within a session, and the
 * operator's scope (role, assigned Pools) is loaded for the handler. Nothing reaches a handler
 * without these checks.
 */
export function installSessionHooks(app: FastifyInstance, services: Services, jar: CookieJar): void {
  app.decorateRequest('adminSession', null);
  app.decorateRequest('adminScope', null);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    const token = jar.tokenFrom(request);
    request.adminSession = token ? await resolveSession(services.db, token, new Date()) : null;
    if (!request.adminSession && jar.hasCookie(request)) jar.clear(request, reply);
  });

  app.addHook('preHandler', async (request) => {
    const access = request.routeOptions.config.adminAccess ?? 'operator';
    const session = request.adminSession;
    if (access !== 'public') {
      if (!session) throw new PoolerError('invalid_session');
      if (!session.mfaVerified && access !== 'pending') throw new PoolerError('totp_required');
    }
    if (session && MUTATING.has(request.method) && request.routeOptions.config.csrf !== false) {
      if (!csrfTokenMatches(services.config.secretKeyBase, session.sessionId, request.headers['x-csrf-token'])) throw new PoolerError('csrf_invalid');
    }
    if (access === 'public' || access === 'pending' || !session) return;
    if (session.passwordChangeRequired && access === 'operator') throw new PoolerError('password_change_required');
    const client = clientOf(request);
    request.adminScope = await loadScope(services.db, session, { ipAddress: client.ipAddress, correlationId: client.correlationId });
    if (!request.adminScope) throw new PoolerError('invalid_session');
  });
}

/** The signed-in operator's scope; only call from routes whose access is `operator` or `password_change`. */
export function scopeOf(request: FastifyRequest): OperatorScope {
  if (!request.adminScope) throw new PoolerError('invalid_session');
  return request.adminScope;
}
