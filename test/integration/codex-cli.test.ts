/**
 * End to end with the real Codex CLI: the pinned `@openai/codex` binary runs `codex exec` against the
 * gateway through a custom model provider (the exact block docs/getting-started.md tells users to
 * paste), and the gateway answers through the fake ChatGPT upstream with the pooled account.
 *
 * Set CODEX_CLI_TEST_VERBOSE=1 to print the CLI's output and every request the gateway and the
 * upstream saw; TEST_LOG_LEVEL=debug additionally makes the gateway log.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { CODEX_TIMEOUT_MS, runCodexExec, startCodexCliGateway, type CodexCliGateway } from '../support/codex-cli.ts';

/** Byte for byte the `~/.codex/config.toml` of docs/getting-started.md, with this gateway's origin. */
function codexConfigToml(origin: string): string {
  return `model = "gpt-5.4"
model_provider = "codex-pooler"

[model_providers.codex-pooler]
name = "Codex Pooler"
base_url = "${origin}/backend-api/codex"
model_catalog_url = "${origin}/backend-api/codex/models"
wire_api = "responses"
env_key = "CODEX_POOLER_KEY"
`;
}

let cli: CodexCliGateway;

beforeAll(async () => {
  cli = await startCodexCliGateway(inject('databaseUrl'), 'codex-pooler-cli-');
});
afterAll(async () => {
  await cli?.close();
});

describe('real Codex CLI through the gateway', () => {
  test('codex exec answers through the pooled account; the Pool API key never reaches the upstream', { timeout: CODEX_TIMEOUT_MS + 30_000 }, async () => {
    const { gateway, upstream } = cli;
    const marker = `codex-pooler-e2e-${Math.random().toString(36).slice(2, 10)}`;
    const { seeded, result, gatewaySeen, upstreamSeen, diagnostics } = await runCodexExec(cli, {
      label: 'codex-cli',
      reply: `The gateway says ${marker}.`,
      configToml: codexConfigToml,
      prompt: 'Reply with the marker the server gives you.',
      describeUpstream: (r) => `headers=${Object.keys(r.headers).sort().join(',')}`,
    });
    const account = seeded.accounts[0]!;

    // The CLI succeeded and printed the upstream's answer.
    expect(result.code, diagnostics()).toBe(0);
    expect(result.stdout, diagnostics()).toContain(marker);

    // What the CLI asked the gateway for: the catalog (model_catalog_url) and one HTTP/SSE turn, each
    // with the Pool API key; nothing else (custom providers default to supports_websockets = false).
    // The turn carries the gateway's own catalog ETag as x-models-etag, so the CLI never refetches.
    const turnHits = gatewaySeen.filter((h) => h.method === 'POST' && h.path === '/backend-api/codex/responses');
    const catalogHits = gatewaySeen.filter((h) => h.method === 'GET' && h.path === '/backend-api/codex/models');
    expect(turnHits, diagnostics()).toHaveLength(1);
    expect(catalogHits, diagnostics()).toHaveLength(1);
    expect(gatewaySeen.length, diagnostics()).toBe(turnHits.length + catalogHits.length);
    for (const hit of gatewaySeen) expect(hit.authorization).toBe(`Bearer ${seeded.key}`);

    // Upstream: the turn went out with the seeded account's own credentials.
    const turns = upstreamSeen.filter((r) => r.method === 'POST' && r.path === '/backend-api/codex/responses');
    expect(turns, diagnostics()).toHaveLength(1);
    const turn = turns[0]!;
    expect(turn.accountId).toBe(account.accountId);
    expect(turn.headers.authorization).toBe(`Bearer ${upstream.accessTokenOf(account.accountId)}`);
    expect(turn.headers['chatgpt-account-id']).toBe(account.accountId);
    expect(turn.body).toMatchObject({ model: 'gpt-5.4', stream: true });

    // The Pool API key never left the gateway: no header, no body of any upstream request has it.
    for (const request of upstreamSeen) {
      for (const [name, value] of Object.entries(request.headers)) expect(`${name}: ${value}`).not.toContain('sk-cxp-');
      expect(request.rawBody).not.toContain('sk-cxp-');
    }

    // The turn is in the request log, attributed to the key and the account that served it.
    const rows = await gateway.services.db
      .selectFrom('requests')
      .select(['endpoint', 'transport', 'status', 'response_status_code', 'pool_upstream_assignment_id', 'requested_model', 'user_agent'])
      .where('api_key_id', '=', seeded.apiKey.id)
      .execute();
    expect(rows, diagnostics()).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      endpoint: '/backend-api/codex/responses',
      transport: 'http_sse',
      status: 'succeeded',
      response_status_code: 200,
      pool_upstream_assignment_id: account.assignmentId,
      requested_model: 'gpt-5.4',
    });

    console.info(
      `[codex-cli] exit ${result.code} in ${result.ms} ms; gateway saw ${gatewaySeen.map((h) => `${h.method} ${h.path}`).join(', ')}; ` +
        `upstream saw ${upstreamSeen.map((r) => `${r.method} ${r.path}`).join(', ')}; logged user agent ${JSON.stringify(rows[0]!.user_agent)}`,
    );
  });
});
