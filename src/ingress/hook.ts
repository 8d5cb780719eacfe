import type { FastifyReply, FastifyRequest } from 'fastify';
import { PoolerError } from '../errors.ts';
import { checkIngress, isRuntimePath, type IngressSettings } from './firewall.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The client as the ingress settings see it (trusted proxies resolved); what request logs record. */
    clientIp: string | null;
  }
}

/**
 * onRequest: resolves every request's client IP and refuses runtime requests (websocket upgrades
 * included) from addresses outside the allowlist, before authentication and before any body is
 * read. Settings come from the in-memory snapshot, never a database read per request.
 */
export function ingressFirewallHook(settings: () => IngressSettings, onDenied: (reason: string) => void = () => {}) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const verdict = checkIngress(request.raw.socket?.remoteAddress, request.headers, settings());
    request.clientIp = verdict.clientIp;
    // The raw path and the matched route template both count, so an encoded path cannot slip past.
    if (verdict.allowed || !(isRuntimePath(request.url) || isRuntimePath(request.routeOptions.url ?? ''))) return;
    request.log.info({ reason: verdict.reason, route: request.routeOptions.url ?? 'unmatched' }, 'ingress firewall refused a runtime request');
    onDenied(verdict.reason ?? 'not_allowed');
    // A refused upgrade never reaches @fastify/websocket's hooks, which would otherwise close the
    // detached socket after the answer; left open it would also hold shutdown.
    if (request.headers.upgrade) reply.raw.once('finish', () => request.raw.socket?.destroy());
    throw new PoolerError('access_denied');
  };
}
