import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isObservatoryWindow, keyObservatory } from '../accounting/index.ts';
import { PoolerError } from '../errors.ts';
import type { Services } from '../services.ts';
import { dashboardPage, loginPage } from './page.ts';
import { observatoryKeyOf, OBSERVATORY_LOGIN_FAILED, OBSERVATORY_SESSION_MS, signInWithKey, signOut } from './sessions.ts';

export const OBSERVATORY_COOKIE = '_codex_pooler_observatory_token';
// Login CSRF: the form carries the token the login page set in this cookie (double submit), so
// another site cannot sign a browser in to a key of its choosing.
export const OBSERVATORY_CSRF_COOKIE = '_codex_pooler_observatory_csrf';
// The operator session cookie: signing in here as a key holder drops it (spec §6.3).
const OPERATOR_COOKIE = '_codex_pooler_key';
const LOGIN_FIELDS = new Set(['observatory[api_key]', '_csrf_token']);
const FORM_LIMIT_BYTES = 4096;

function cookieOf(request: FastifyRequest, name = OBSERVATORY_COOKIE): string | null {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

function csrfMatches(request: FastifyRequest, submitted: string | null): boolean {
  const expected = cookieOf(request, OBSERVATORY_CSRF_COOKIE);
  if (!expected || !submitted || expected.length !== submitted.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(submitted));
}

const isHttps = (request: FastifyRequest) => request.protocol === 'https' || String(request.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim().toLowerCase() === 'https';
const attributes = (request: FastifyRequest) => `Path=/; HttpOnly; SameSite=Lax${isHttps(request) ? '; Secure' : ''}`;

/** A page with its own script nonce: nothing but our inline script and style runs. */
function sendPage(reply: FastifyReply, status: number, render: (nonce: string) => string): FastifyReply {
  const nonce = randomBytes(16).toString('base64');
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header('content-security-policy', `default-src 'self'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'`)
    .send(render(nonce));
}

/**
 * The key-holder Observatory (spec §6.3): a key's holder signs in with the key and sees only that
 * key's usage. Public routes with their own cookie; no operator session is involved.
 */
export async function registerObservatoryPages(app: FastifyInstance, services: Services): Promise<void> {
  await app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES }, (_request, body, done) => {
      done(null, new URLSearchParams(body as string));
    });

    /** The login form with a fresh CSRF token in both the form and its cookie. */
    const sendLoginPage = (request: FastifyRequest, reply: FastifyReply, status: number, error: string | null) => {
      const csrf = randomBytes(24).toString('base64url');
      reply.header('set-cookie', `${OBSERVATORY_CSRF_COOKIE}=${csrf}; Path=/observatory; HttpOnly; SameSite=Strict${isHttps(request) ? '; Secure' : ''}`);
      return sendPage(reply, status, (nonce) => loginPage(nonce, csrf, error));
    };

    scope.get('/observatory/login', async (request, reply) => {
      if (await observatoryKeyOf(services.db, cookieOf(request))) return reply.redirect('/observatory', 302);
      return sendLoginPage(request, reply, 200, null);
    });

    scope.post('/observatory/login', async (request, reply) => {
      const refuse = () => sendLoginPage(request, reply, 422, OBSERVATORY_LOGIN_FAILED);
      // Only the form field (and a CSRF field) in the body, and no query string at all.
      if (request.url.includes('?')) return refuse();
      const form = request.body;
      if (!(form instanceof URLSearchParams)) return refuse();
      const fields = [...form.keys()];
      if (fields.some((name) => !LOGIN_FIELDS.has(name)) || form.getAll('observatory[api_key]').length !== 1) return refuse();
      if (form.getAll('_csrf_token').length !== 1 || !csrfMatches(request, form.get('_csrf_token'))) return refuse();
      try {
        const session = await signInWithKey(services.db, form.get('observatory[api_key]'));
        reply.header('set-cookie', [
          `${OBSERVATORY_COOKIE}=${session.token}; Max-Age=${OBSERVATORY_SESSION_MS / 1000}; ${attributes(request)}`,
          `${OPERATOR_COOKIE}=; Max-Age=0; ${attributes(request)}`,
          `${OBSERVATORY_CSRF_COOKIE}=; Max-Age=0; Path=/observatory; HttpOnly; SameSite=Strict`,
        ]);
        return reply.redirect('/observatory', 302);
      } catch (error) {
        if (error instanceof PoolerError && error.code === 'observatory_login_failed') return refuse();
        throw error;
      }
    });

    scope.get('/observatory', async (request, reply) => {
      if (!(await observatoryKeyOf(services.db, cookieOf(request)))) {
        reply.header('set-cookie', `${OBSERVATORY_COOKIE}=; Max-Age=0; ${attributes(request)}`);
        return reply.redirect('/observatory/login', 302);
      }
      return sendPage(reply, 200, dashboardPage);
    });

    // The dashboard's data: the same Observatory the admin API serves, for the signed-in key only.
    scope.get('/observatory/data', async (request, reply) => {
      const keyId = await observatoryKeyOf(services.db, cookieOf(request));
      if (!keyId) throw new PoolerError('invalid_session', 'sign in to the Observatory with your API key');
      const window = (request.query as Record<string, unknown>).window ?? '24h';
      if (!isObservatoryWindow(window)) throw new PoolerError('invalid_request', 'window must be one of 1h, 5h, 24h, 7d', { param: 'window' });
      const observatory = await keyObservatory(services.db, keyId, window);
      reply.header('cache-control', 'no-store');
      const { pool_id: _pool, id: _id, ...key } = observatory.key;
      return { ...observatory, key };
    });

    scope.delete('/observatory/logout', async (request, reply) => {
      await signOut(services.db, cookieOf(request));
      reply.header('set-cookie', `${OBSERVATORY_COOKIE}=; Max-Age=0; ${attributes(request)}`);
      return reply.redirect('/observatory/login', 302);
    });
  });
}
