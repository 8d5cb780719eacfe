/**
 * The real Codex CLI (0.169.0) with websockets enabled for its provider: `codex exec` runs its turn
 * over GET /backend-api/codex/responses as a websocket through the gateway, which serves it over the
 * pooled account's upstream websocket, with no fallback to HTTP.
 *
 * Set CODEX_CLI_TEST_VERBOSE=1 to print the CLI's output and what the gateway and upstream saw.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { CODEX_TIMEOUT_MS, runCodex } from '../support/codex-cli.ts';
import { seedPool, startGateway, type TestGateway } from '../support/gateway.ts';

const VERBOSE = Boolean(process.env.CODEX_CLI_TEST_VERBOSE);

/** docs/getting-started.md's provider block plus `supports_websockets = true`. */
function codexConfigToml(origin: string): string {
  return `model = "gpt-5.4"
model_provider = "codex-pooler"

[model_providers.codex-pooler]
name = "Codex Pooler"
base_url = "${origin}/backend-api/codex"
model_catalog_url = "${origin}/backend-api/codex/models"
wire_api = "responses"
env_key = "CODEX_POOLER_KEY"
supports_websockets = true
`;
}

type GatewayHit = { method: string; path: string; upgrade: boolean; authorization: string | undefined };

let upstream: FakeUpstream;
let gateway: TestGateway;
let scratch: string;
const gatewayHits: GatewayHit[] = [];

beforeAll(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
  const record = (request: IncomingMessage) =>
    gatewayHits.push({
      method: request.method ?? '',
      path: (request.url ?? '').split('?')[0]!,
      upgrade: (request.headers.upgrade ?? '').toLowerCase() === 'websocket',
      authorization: request.headers.authorization,
    });
  gateway.app.server.prependListener('request', record);
  gateway.app.server.prependListener('upgrade', record);
  scratch = await mkdtemp(join(tmpdir(), 'codex-pooler-ws-cli-'));
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('real Codex CLI over the websocket transport', () => {
  test('codex exec completes a turn over the gateway websocket; nothing falls back to HTTP', { timeout: CODEX_TIMEOUT_MS + 30_000 }, async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'codex-cli-ws');
    const account = seeded.accounts[0]!;
    const marker = `codex-pooler-ws-${Math.random().toString(36).slice(2, 10)}`;
    upstream.setReply(`The gateway says ${marker}.`);

    const home = join(scratch, 'home');
    const codexHome = join(home, '.codex');
    const workdir = join(scratch, 'work');
    await mkdir(codexHome, { recursive: true });
    await mkdir(workdir, { recursive: true });
    await writeFile(join(codexHome, 'config.toml'), codexConfigToml(gateway.url));

    const upstreamBefore = upstream.requests.length;
    const gatewayBefore = gatewayHits.length;
    const args = ['exec', '--strict-config', '--skip-git-repo-check', '--ephemeral', '--sandbox', 'read-only', '--color', 'never', 'Reply with the marker the server gives you.'];
    const result = await runCodex(args, {
      cwd: workdir,
      env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: home, CODEX_HOME: codexHome, CODEX_POOLER_KEY: seeded.key },
    });
    await gateway.services.requestLog.flush();
    const upstreamSeen = upstream.requests.slice(upstreamBefore);
    const gatewaySeen = gatewayHits.slice(gatewayBefore);
    const diagnostics = () =>
      [
        `exit=${result.code} signal=${result.signal} timedOut=${result.timedOut} in ${result.ms} ms`,
        `--- stdout\n${result.stdout}`,
        `--- stderr\n${result.stderr}`,
        `--- gateway saw\n${gatewaySeen.map((h) => `${h.method} ${h.path}${h.upgrade ? ' (websocket upgrade)' : ''}`).join('\n')}`,
        `--- upstream saw\n${upstreamSeen.map((r) => `${r.method} ${r.path} ${r.transport} account=${r.accountId} ${r.method === 'WS' ? JSON.stringify((r.body as { type?: unknown; generate?: unknown }) && { type: (r.body as { type?: unknown }).type, generate: (r.body as { generate?: unknown }).generate }) : ''}`).join('\n')}`,
      ].join('\n');
    if (VERBOSE) console.info(diagnostics());

    expect(result.code, diagnostics()).toBe(0);
    expect(result.stdout, diagnostics()).toContain(marker);

    // The CLI reached the gateway only with websocket upgrades (plus the catalog): no HTTP POST turn.
    expect(gatewaySeen.filter((h) => h.method === 'POST'), diagnostics()).toEqual([]);
    expect(gatewaySeen.some((h) => h.upgrade && h.path === '/backend-api/codex/responses'), diagnostics()).toBe(true);
    for (const hit of gatewaySeen) expect(hit.authorization).toBe(`Bearer ${seeded.key}`);

    // Upstream: a websocket turn on the pooled account, and no HTTP POST to /responses.
    expect(upstreamSeen.filter((r) => r.method === 'POST' && r.path.endsWith('/responses')), diagnostics()).toEqual([]);
    const turns = upstreamSeen.filter((r) => r.method === 'WS' && (r.body as { type?: unknown }).type === 'response.create');
    expect(turns.length, diagnostics()).toBeGreaterThanOrEqual(1);
    for (const t of turns) expect(t.accountId).toBe(account.accountId);
    for (const request of upstreamSeen) {
      for (const [name, value] of Object.entries(request.headers)) expect(`${name}: ${value}`).not.toContain('sk-cxp-');
      expect(request.rawBody).not.toContain('sk-cxp-');
    }

    const rows = await gateway.services.db.selectFrom('requests').select(['transport', 'status', 'pool_upstream_assignment_id']).where('api_key_id', '=', seeded.apiKey.id).execute();
    expect(rows.length, diagnostics()).toBeGreaterThanOrEqual(1);
    for (const row of rows) expect(row).toMatchObject({ transport: 'websocket', status: 'succeeded', pool_upstream_assignment_id: account.assignmentId });
    console.info(`[codex-cli-ws] exit ${result.code} in ${result.ms} ms; gateway saw ${gatewaySeen.map((h) => `${h.method} ${h.path}${h.upgrade ? ' (ws)' : ''}`).join(', ')}; upstream saw ${upstreamSeen.map((r) => `${r.method} ${r.path}`).join(', ')}`);
  });
});
