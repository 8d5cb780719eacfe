import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where `node web/build.ts` (the `prepare` script) writes the admin SPA. */
export const ADMIN_UI_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

const NOT_BUILT = 'admin UI not built: run npm install (or node web/build.ts) and restart\n';

/**
 * Serves the admin SPA at /admin/: hashed assets from web/dist/assets with a long cache, and
 * index.html (never cached) for /admin/ and every client route below it, so deep links and
 * reloads work. `GET /` redirects to /admin/. Without a build, /admin answers 503 with the fix.
 */
export async function registerAdminUi(app: FastifyInstance, options: { distDir?: string } = {}): Promise<void> {
  const root = options.distDir ?? ADMIN_UI_DIST;
  app.get('/', async (_request, reply) => reply.redirect('/admin/'));
  app.get('/admin', async (_request, reply) => reply.redirect('/admin/'));

  if (!existsSync(join(root, 'index.html'))) {
    const notBuilt = async (_request: unknown, reply: FastifyReply) => reply.code(503).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(NOT_BUILT);
    app.get('/admin/', notBuilt);
    app.get('/admin/*', notBuilt);
    return;
  }

  await app.register(fastifyStatic, {
    root,
    prefix: '/admin/',
    // Only files present at start-up get routes; everything else under /admin/ is a client route.
    wildcard: false,
    index: false,
    serveDotFiles: false,
    // web/build.ts writes .br and .gz next to each asset.
    preCompressed: true,
    setHeaders(reply, path) {
      reply.header('cache-control', path.includes(join('dist', 'assets')) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  const sendIndex = async (_request: unknown, reply: FastifyReply) => reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').sendFile('index.html', root);
  app.get('/admin/', sendIndex);
  app.get('/admin/*', async (request, reply) => {
    const path = (request.params as { '*': string })['*'];
    // A missing hashed asset is a real 404 (an old tab after a deploy), not the SPA.
    if (path.startsWith('assets/') || path === 'index.html') return reply.code(404).type('text/plain; charset=utf-8').send('Not Found\n');
    return sendIndex(request, reply);
  });
}
