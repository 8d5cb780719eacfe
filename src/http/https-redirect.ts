import type { FastifyReply, FastifyRequest } from 'fastify';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  return host.split(':')[0] ?? host;
}

/**
 * HTTPS enforcement, off unless configured. Honors X-Forwarded-Proto/Host from the ingress; never
 * applies to loopback, /metrics, or health probes, so local use and kubelet probes keep working.
 */
export function httpsRedirectHook(publicHost: string) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const forwardedProto = String(request.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim().toLowerCase();
    if (forwardedProto === 'https' || forwardedProto === 'wss') return;
    const host = String(request.headers['x-forwarded-host'] ?? request.headers.host ?? publicHost).split(',')[0]!.trim();
    if (LOOPBACK_HOSTS.has(hostName(host).toLowerCase())) return;
    const path = request.url.split('?')[0];
    if (path === '/metrics' || path === '/healthz' || path === '/readyz') return;
    const status = request.method === 'GET' || request.method === 'HEAD' ? 301 : 307;
    return reply.code(status).header('location', `https://${host}${request.url}`).header('strict-transport-security', 'max-age=31536000').send();
  };
}
