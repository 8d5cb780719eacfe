/**
 * End to end with the real Codex CLI through the OpenAI-compatible surface: the pinned
 * `@openai/codex` binary runs `codex exec` with a custom model provider whose `base_url` is the
 * gateway's `/v1` (the block docs/clients.md gives), `wire_api = "responses"`, and the Pool API key
 * in `env_key`. The gateway validates and translates the CLI's Responses body like any `/v1` client
 * and answers through the fake ChatGPT upstream with the pooled account.
 *
 * Set CODEX_CLI_TEST_VERBOSE=1 to print the CLI's output and every request the gateway and the
 * upstream saw; TEST_LOG_LEVEL=debug additionally makes the gateway log.
 */
import { afterAll, beforeAll, describe, expect, inject, test, vi } from 'vitest';
import { makeUsage, type JsonObject, type Usage } from '../support/fake-sse-events.ts';
import { TOOL_CALL_ARGUMENTS, type RecordedRequest } from '../support/fake-upstream.ts';
import { CODEX_TIMEOUT_MS, runCodexExec, startCodexCliGateway, type CodexCliGateway, type CodexExec, type RunResult } from '../support/codex-cli.ts';

/**
 * Byte for byte the `/v1` `~/.codex/config.toml` of docs/clients.md, with this gateway's origin;
 * `catalog: false` leaves out the optional `model_catalog_url` line (the minimal block).
 */
function codexV1ConfigToml(origin: string, options: { catalog: boolean }): string {
  return `model = "gpt-5.4"
model_provider = "codex-pooler-v1"

[model_providers.codex-pooler-v1]
name = "Codex Pooler (OpenAI-compatible /v1)"
base_url = "${origin}/v1"
${options.catalog ? `model_catalog_url = "${origin}/backend-api/codex/models"\n` : ''}wire_api = "responses"
env_key = "CODEX_POOLER_KEY"
`;
}

let cli: CodexCliGateway;

beforeAll(async () => {
  cli = await startCodexCliGateway(inject('databaseUrl'), 'codex-pooler-cli-v1-');
});
afterAll(async () => {
  await cli?.close();
});

/** A `codex exec` with the upstream `/responses` turns it caused, in order. */
type Scenario = CodexExec & { turns: RecordedRequest[] };

/** One `codex exec` in a fresh CODEX_HOME with the `/v1` block, on a fresh one-account pool. */
async function runScenario(label: string, options: { catalog: boolean; prompt: string; reply: string }): Promise<Scenario> {
  const exec = await runCodexExec(cli, {
    label,
    reply: options.reply,
    configToml: (origin) => codexV1ConfigToml(origin, { catalog: options.catalog }),
    prompt: options.prompt,
    describeUpstream: (r) => `body=${r.rawBody.slice(0, 3000)}`,
  });
  const turns = exec.upstreamSeen.filter((r) => r.method === 'POST' && r.path === '/backend-api/codex/responses');
  return { ...exec, turns };
}

/** What every scenario must show: success, the marker, the key only at the gateway, the account's credentials upstream. */
function expectServedThroughV1(s: Scenario, marker: string): void {
  const account = s.seeded.accounts[0]!;
  expect(s.result.code, s.diagnostics()).toBe(0);
  expect(s.result.stdout, s.diagnostics()).toContain(marker);
  expect(s.gatewaySeen.some((h) => h.upgrade), s.diagnostics()).toBe(false);
  for (const hit of s.gatewaySeen) expect(hit.authorization, s.diagnostics()).toBe(`Bearer ${s.seeded.key}`);
  for (const hit of s.gatewaySeen.filter((h) => h.path === '/v1/responses')) expect(hit.status, s.diagnostics()).toBe(200);
  expect(s.turns.length, s.diagnostics()).toBeGreaterThan(0);
  for (const turn of s.turns) {
    expect(turn.accountId).toBe(account.accountId);
    expect(turn.headers.authorization).toBe(`Bearer ${cli.upstream.accessTokenOf(account.accountId)}`);
    expect(turn.headers['chatgpt-account-id']).toBe(account.accountId);
    // /v1 forces stream:true and store:false; Codex's own tools (function and hosted types alike) went through.
    expect(turn.body).toMatchObject({ model: 'gpt-5.4', stream: true, store: false, instructions: expect.any(String) });
    expect((turn.body as JsonObject).tools, s.diagnostics()).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'function', name: 'exec_command' })]));
  }
  // The Pool API key never left the gateway: no header, no body of any upstream request has it.
  for (const request of s.upstreamSeen) {
    for (const [name, value] of Object.entries(request.headers)) expect(`${name}: ${value}`).not.toContain('sk-cxp-');
    expect(request.rawBody).not.toContain('sk-cxp-');
  }
}

/**
 * The usage the fake reported for each turn (its own `makeUsage` over the same inputs): a cache hit
 * when an earlier turn of the scenario carried the same `prompt_cache_key` (the account is fresh).
 */
function fakeUsages(turns: RecordedRequest[], outputs: string[]): Usage[] {
  return turns.map((turn, i) => {
    const body = turn.body as JsonObject;
    const include = Array.isArray(body.include) ? body.include : [];
    const key = body.prompt_cache_key;
    const cacheHit = typeof key === 'string' && turns.slice(0, i).some((earlier) => (earlier.body as JsonObject).prompt_cache_key === key);
    return makeUsage(Buffer.byteLength(turn.rawBody), outputs[i]!, include.includes('reasoning.encrypted_content'), cacheHit);
  });
}

/** The request log rows of the scenario's key match the fake's usage turn by turn (written just after each answer: poll). */
async function expectLoggedUsage(s: Scenario, usages: Usage[]): Promise<void> {
  await vi.waitFor(() => expectLoggedUsageNow(s, usages), { timeout: 5_000, interval: 50 });
}

async function expectLoggedUsageNow(s: Scenario, usages: Usage[]): Promise<void> {
  await cli.gateway.services.requestLog.flush();
  const rows = await cli.gateway.services.db
    .selectFrom('requests')
    .select(['status', 'response_status_code', 'pool_upstream_assignment_id', 'requested_model', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens'])
    .where('api_key_id', '=', s.seeded.apiKey.id)
    .orderBy('admitted_at', 'asc')
    .execute();
  expect(rows, s.diagnostics()).toEqual(
    usages.map((usage) => ({
      status: 'succeeded',
      response_status_code: 200,
      pool_upstream_assignment_id: s.seeded.accounts[0]!.assignmentId,
      requested_model: 'gpt-5.4',
      input_tokens: usage.input_tokens,
      cached_input_tokens: usage.input_tokens_details.cached_tokens,
      output_tokens: usage.output_tokens,
      reasoning_tokens: usage.output_tokens_details.reasoning_tokens,
      total_tokens: usage.total_tokens,
    })),
  );
}

/** The `tokens used` figure Codex prints at the end of `codex exec`. */
function tokensUsed(result: RunResult): number | null {
  const match = /tokens used\s*\n\s*([\d,]+)/.exec(`${result.stderr}\n${result.stdout}`);
  return match ? Number(match[1]!.replaceAll(',', '')) : null;
}

function summary(label: string, s: Scenario): string {
  const tools = ((s.turns[0]?.body as JsonObject | undefined)?.tools as JsonObject[] | undefined) ?? [];
  return (
    `[codex-cli-v1 ${label}] exit ${s.result.code} in ${s.result.ms} ms; gateway saw ${s.gatewaySeen.map((h) => `${h.method} ${h.path} ${h.status ?? '?'}`).join(', ')}; ` +
    `upstream saw ${s.upstreamSeen.map((r) => `${r.method} ${r.path}`).join(', ')}; first body keys ${Object.keys((s.turns[0]?.body as JsonObject) ?? {}).sort().join(',')}; ` +
    `tools ${tools.map((t) => `${String(t.type)}${typeof t.name === 'string' ? `:${t.name}` : ''}`).join(',')}`
  );
}

const marker = () => `codex-pooler-v1-e2e-${Math.random().toString(36).slice(2, 10)}`;
const TEST_TIMEOUT = CODEX_TIMEOUT_MS + 30_000;

describe('real Codex CLI through /v1 (base_url at the gateway /v1, wire_api = "responses")', () => {
  test('the minimal block: one POST /v1/responses, served by the pooled account, exact usage', { timeout: TEST_TIMEOUT }, async () => {
    const mark = marker();
    const reply = `The /v1 gateway says ${mark}.`;
    const s = await runScenario('minimal', { catalog: false, prompt: 'Reply with the marker the server gives you.', reply });
    expectServedThroughV1(s, mark);
    // Codex calls nothing but the turn: no /v1/models, no websocket.
    expect(s.gatewaySeen.map((h) => `${h.method} ${h.path}`), s.diagnostics()).toEqual(['POST /v1/responses']);
    expect(s.turns, s.diagnostics()).toHaveLength(1);
    const usages = fakeUsages(s.turns, [reply]);
    await expectLoggedUsage(s, usages);
    // The usage reached the CLI: its `tokens used` line is the fake's total.
    expect(tokensUsed(s.result), s.diagnostics()).toBe(usages[0]!.total_tokens);
    console.info(summary('minimal', s));
  });

  test('with model_catalog_url: the catalog comes from the native backend, no metadata warning', { timeout: TEST_TIMEOUT }, async () => {
    const mark = marker();
    const reply = `Catalogued /v1 answer ${mark}.`;
    const s = await runScenario('catalog', { catalog: true, prompt: 'Reply with the marker the server gives you.', reply });
    expectServedThroughV1(s, mark);
    expect(s.gatewaySeen.map((h) => `${h.method} ${h.path} ${h.status}`), s.diagnostics()).toEqual(['GET /backend-api/codex/models 200', 'POST /v1/responses 200']);
    expect(s.result.stderr, s.diagnostics()).not.toContain('Model metadata');
    expect(s.turns, s.diagnostics()).toHaveLength(1);
    const usages = fakeUsages(s.turns, [reply]);
    await expectLoggedUsage(s, usages);
    expect(tokensUsed(s.result), s.diagnostics()).toBe(usages[0]!.total_tokens);
    console.info(summary('catalog', s));
  });

  test('a tool call round trip: the function call, Codex runs it, the output goes back through /v1', { timeout: TEST_TIMEOUT }, async () => {
    const mark = marker();
    const reply = `After the tool, the /v1 gateway says ${mark}.`;
    // `call_tool` in the last user message makes the fake call the first function tool (exec_command)
    // with TOOL_CALL_ARGUMENTS; the next turn (ending in the tool output) gets the text reply.
    const s = await runScenario('tool-call', { catalog: false, prompt: 'call_tool, then reply with the marker the server gives you.', reply });
    expectServedThroughV1(s, mark);
    expect(s.gatewaySeen.map((h) => `${h.method} ${h.path}`), s.diagnostics()).toEqual(['POST /v1/responses', 'POST /v1/responses']);
    expect(s.turns, s.diagnostics()).toHaveLength(2);
    const second = (s.turns[1]!.body as JsonObject).input as JsonObject[];
    const call = second.find((item) => item.type === 'function_call');
    const output = second.find((item) => item.type === 'function_call_output');
    expect(call, s.diagnostics()).toMatchObject({ name: 'exec_command', arguments: TOOL_CALL_ARGUMENTS, call_id: expect.stringMatching(/^call_/) });
    expect(output, s.diagnostics()).toMatchObject({ call_id: call!.call_id, output: expect.any(String) });
    // The encrypted reasoning item of the first turn is replayed and passes /v1 validation.
    if (((s.turns[0]!.body as JsonObject).include as unknown[] | undefined)?.includes('reasoning.encrypted_content')) {
      expect(second, s.diagnostics()).toContainEqual(expect.objectContaining({ type: 'reasoning', encrypted_content: expect.stringMatching(/^gAAAAA/) }));
    }
    // Both turns share Codex's prompt_cache_key, so the second is a cache hit with cached tokens.
    const usages = fakeUsages(s.turns, [TOOL_CALL_ARGUMENTS, reply]);
    expect(usages[1]!.input_tokens_details.cached_tokens).toBeGreaterThan(0);
    await expectLoggedUsage(s, usages);
    console.info(summary('tool-call', s));
  });
});
