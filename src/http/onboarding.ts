import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseInput, UUID } from '../admin/validate.ts';
import { PoolerError } from '../errors.ts';
import type { Services } from '../services.ts';
import { findUsableInvite, pollInviteDeviceFlow, startInviteDeviceFlow, type OAuthFlowView } from '../upstreams/index.ts';

const TOKEN_PARAMS = z.object({ token: z.string().trim().min(1).max(200) });
const POLL_PARAMS = TOKEN_PARAMS.extend({ flow_id: UUID });

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const context = (request: FastifyRequest) => ({ ipAddress: request.ip ?? null, correlationId: String(request.id) });

const publicFlow = (flow: OAuthFlowView) => ({ id: flow.id, status: flow.status, user_code: flow.userCode, verification_url: flow.verificationUrl, interval_seconds: flow.intervalSeconds, poll_after: flow.pollAfter, expires_at: flow.expiresAt });

function page(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .type('text/html; charset=utf-8')
    .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)} · Codex Pooler</title>
<style>body{font-family:system-ui,sans-serif;max-width:560px;margin:48px auto;padding:0 16px;line-height:1.5;color:#1f2330}code,.code{font-family:ui-monospace,monospace}.code{font-size:28px;letter-spacing:2px;padding:8px 12px;border:1px solid #ccd;border-radius:8px;display:inline-block}button{font-size:16px;padding:8px 16px;border-radius:8px;border:0;background:#4c5fd5;color:#fff;cursor:pointer}button:disabled{opacity:.6}.muted{color:#667}.error{color:#b3261e}.done{color:#1b7f3b;font-weight:600}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`);
}

/** The device-code dance in the browser: start, show the code, poll at the announced interval. */
const SCRIPT = `<script>
(() => {
  const base = location.pathname.replace(/\\/+$/, '');
  const $ = (id) => document.getElementById(id);
  const say = (text, cls) => { const s = $('status'); s.textContent = text; s.className = cls || 'muted'; };
  const call = async (path) => {
    const r = await fetch(base + path, { method: 'POST', headers: { accept: 'application/json' } });
    const body = await r.json().catch(() => null);
    if (!r.ok) throw new Error((body && body.error && body.error.message) || ('HTTP ' + r.status));
    return body;
  };
  $('start').addEventListener('click', async () => {
    $('start').disabled = true;
    try {
      const { flow } = await call('/device');
      $('code').textContent = flow.user_code;
      $('link').href = flow.verification_url; $('link').textContent = flow.verification_url;
      $('device').hidden = false;
      say('Waiting for you to approve the code…');
      let wait = flow.interval_seconds || 5;
      const tick = async () => {
        try {
          const answer = await call('/device/' + flow.id + '/poll');
          if (answer.status === 'completed') { $('device').hidden = true; $('start').hidden = true; say('Done: ' + (answer.account.email || 'your account') + ' joined the pool. You can close this page.', 'done'); return; }
          wait = answer.flow.interval_seconds || wait;
          setTimeout(tick, wait * 1000);
        } catch (e) { $('device').hidden = true; say(e.message.replace(/[.\\s]+$/, '') + '. Start again for a new code.', 'error'); $('start').disabled = false; }
      };
      setTimeout(tick, wait * 1000);
    } catch (e) { say(e.message, 'error'); $('start').disabled = false; }
  });
})();
</script>`;

/**
 * The public invite page (control-plane spec §5.4): no login, the token in the path is the
 * authorization. The page loads directly (server-rendered) and drives a device-code sign-in
 * through the JSON endpoints next to it; errors there use the usual JSON envelope.
 */
export async function registerOnboardingRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const deps = services.accountDeps;

  app.get('/onboarding/invites/:token', async (request, reply) => {
    const { token } = parseInput(TOKEN_PARAMS, request.params);
    try {
      const found = await findUsableInvite(services.db, token);
      return page(
        reply,
        200,
        'Join a Codex Pooler pool',
        `<p>${found.inviter ? `${escapeHtml(found.inviter)} invited` : 'You are invited'} <strong>${escapeHtml(found.invite.invited_email)}</strong> to add a ChatGPT account to the pool <strong>${escapeHtml(found.poolName)}</strong>.</p>
<p class="muted">The invite expires ${escapeHtml(found.invite.expires_at.toISOString())}. Sign in with the ChatGPT account that uses this email; the pool then serves requests with it.</p>
<p><button id="start" type="button">Sign in with a device code</button></p>
<div id="device" hidden><p>Open <a id="link" target="_blank" rel="noopener noreferrer"></a>, sign in to ChatGPT and enter this code:</p><p class="code" id="code"></p></div>
<p id="status" class="muted" role="status" aria-live="polite"></p>${SCRIPT}`,
      );
    } catch (error) {
      if (!(error instanceof PoolerError)) throw error;
      return page(reply, error.status, error.code === 'invite_consumed' ? 'Invite already used' : 'Invite not found', `<p>${escapeHtml(error.message)}</p><p class="muted">Ask the pool's operator for a new invite.</p>`);
    }
  });

  app.get('/onboarding/invites/:token/status', async (request) => {
    const { token } = parseInput(TOKEN_PARAMS, request.params);
    const found = await findUsableInvite(services.db, token);
    return { invite: { pool_name: found.poolName, pool_slug: found.poolSlug, email: found.invite.invited_email, inviter: found.inviter, expires_at: found.invite.expires_at } };
  });

  app.post('/onboarding/invites/:token/device', async (request, reply) => {
    const { token } = parseInput(TOKEN_PARAMS, request.params);
    return reply.code(201).send({ flow: publicFlow(await startInviteDeviceFlow(deps, token, context(request))) });
  });

  app.post('/onboarding/invites/:token/device/:flow_id/poll', async (request) => {
    const { token, flow_id } = parseInput(POLL_PARAMS, request.params);
    const polled = await pollInviteDeviceFlow(deps, token, flow_id, context(request));
    if (polled.status === 'pending') return { status: 'pending', flow: publicFlow(polled.flow) };
    return { status: 'completed', flow: publicFlow(polled.flow), account: { label: polled.result.account.label, email: polled.result.account.email, state: polled.result.account.state } };
  });
}
