/**
 * The real Codex CLI (0.169.0) with websockets enabled for its provider: `codex exec` runs its turn
 * over GET /backend-api/codex/responses as a websocket through the gateway, which serves it over the
 * pooled account's upstream websocket, with no fallback to HTTP.
 *
 * Set CODEX_CLI_TEST_VERBOSE=1 to print the CLI's output and what the gateway and upstream saw.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { CODEX_TIMEOUT_MS, runCodexExec, startCodexCliGateway, type CodexCliGateway } from '../support/codex-cli.ts';

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

let cli: CodexCliGateway;

beforeAll(async () => {
  cli = await startCodexCliGateway(inject('databaseUrl'), 'codex-pooler-ws-cli-');
});
afterAll(async () => {
  await cli?.close();
});

describe('real Codex CLI over the websocket transport', () => {
  test('codex exec completes a turn over the gateway websocket; nothing falls back to HTTP', { timeout: CODEX_TIMEOUT_MS + 30_000 }, async () => {
    const marker = `codex-pooler-ws-${Math.random().toString(36).slice(2, 10)}`;
    const { seeded, result, gatewaySeen, upstreamSeen, diagnostics } = await runCodexExec(cli, {
      label: 'codex-cli-ws',
      reply: `The gateway says ${marker}.`,
      configToml: codexConfigToml,
      prompt: 'Reply with the marker the server gives you.',
      describeUpstream: (r) => {
        const frame = r.body as { type?: unknown; generate?: unknown } | null;
        return r.method === 'WS' && frame ? JSON.stringify({ type: frame.type, generate: frame.generate }) : '';
      },
    });
    const account = seeded.accounts[0]!;

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

    const rows = await cli.gateway.services.db.selectFrom('requests').select(['transport', 'status', 'pool_upstream_assignment_id']).where('api_key_id', '=', seeded.apiKey.id).execute();
    expect(rows.length, diagnostics()).toBeGreaterThanOrEqual(1);
    for (const row of rows) expect(row).toMatchObject({ transport: 'websocket', status: 'succeeded', pool_upstream_assignment_id: account.assignmentId });
    console.info(`[codex-cli-ws] exit ${result.code} in ${result.ms} ms; gateway saw ${gatewaySeen.map((h) => `${h.method} ${h.path}${h.upgrade ? ' (ws)' : ''}`).join(', ')}; upstream saw ${upstreamSeen.map((r) => `${r.method} ${r.path}`).join(', ')}`);
  });
});
