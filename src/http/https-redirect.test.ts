import Fastify from 'fastify';
import { describe, expect, test } from 'vitest';
import { httpsRedirectHook } from './https-redirect.ts';

async function appWithRedirect() {
  const app = Fastify();
  app.addHook('onRequest', httpsRedirectHook('pooler.example.com'));
  app.get('/x', async () => 'ok');
  app.post('/x', async () => 'ok');
  app.get('/healthz', async () => 'ok');
  return app;
}

describe('https redirect', () => {
  test.each([
    ['GET from a public host', 'GET', { host: 'pooler.example.com' }, '/x', 301],
    ['POST keeps the method', 'POST', { host: 'pooler.example.com' }, '/x', 307],
    ['already https at the ingress', 'GET', { host: 'pooler.example.com', 'x-forwarded-proto': 'https' }, '/x', 200],
    ['loopback is exempt', 'GET', { host: 'localhost:4000' }, '/x', 200],
    ['127.0.0.1 is exempt', 'GET', { host: '127.0.0.1:4000' }, '/x', 200],
    ['probes are exempt', 'GET', { host: 'pooler.example.com' }, '/healthz', 200],
  ])('%s', async (_name, method, headers, url, status) => {
    const app = await appWithRedirect();
    const response = await app.inject({ method: method as 'GET', url, headers });
    expect(response.statusCode).toBe(status);
    if (status !== 200) {
      expect(response.headers.location).toBe(`https://pooler.example.com${url}`);
      expect(response.headers['strict-transport-security']).toBe('max-age=31536000');
    }
    await app.close();
  });
});
