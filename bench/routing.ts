/**
 * The routing figures of issue 6, measured through the real gateway against the fake upstream:
 *
 * - **Failover**: the added latency of one failover. For each sample a fresh session on its own
 *   Pool API key finds its account A, then three requests are timed: a normal request (served by
 *   A), the failure scripted on A sent straight to the fake (the failing upstream's own time), and
 *   the same failure scripted on A again with the request sent through the gateway, which must try
 *   A first and then answer from another account. Added = failover − failing upstream − normal.
 *   Two failures: HTTP 500 on a JSON turn, and a stream whose first event is
 *   `response.failed` with `server_is_overloaded` (200 status, then the failure).
 * - **Stickiness**: S sessions × R requests, half keyed by the `session_id` header and half by
 *   `prompt_cache_key`, interleaved at a fixed concurrency; the share of each session's requests
 *   that the session's most used account served.
 *
 * The fake upstream records which account received each request; requests carry a
 * `bench-tag <tag>` in their last user message so the driver can match them (see upstream-server.ts).
 */
import { randomUUID } from 'node:crypto';
import { request, type Agent } from 'undici';
import type { ScriptedOutcome } from '../test/support/fake-upstream.ts';
import type { Child } from './control.ts';
import { DeadlineError } from './load.ts';
import { summarize, type Summary } from './stats.ts';

export type Turn = { instructions: string; input: unknown[] };

export type FakeAccount = { accountId: string; accessToken: string };

type Sent = { status: number; total: number; completed: boolean; failedCode: string | null; text: string };

const COMPLETED = 'response.completed';
const FAILED_CODE = /"code":"([a-z_]+)"/;

/** One request, whole answer read; never throws on a status (the caller checks). */
async function send(agent: Agent, origin: string, headers: Record<string, string>, body: Buffer, stream: boolean): Promise<Sent> {
  const all: Record<string, string> = { 'content-type': 'application/json', ...headers };
  if (stream) all.accept = 'text/event-stream';
  const started = performance.now();
  const response = await request(`${origin}/backend-api/codex/responses`, { method: 'POST', headers: all, body, dispatcher: agent });
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk as Buffer);
  const total = performance.now() - started;
  const text = Buffer.concat(chunks).toString('utf8');
  const completed = response.statusCode === 200 && (stream ? text.includes(COMPLETED) : text.includes('"output"') && !text.includes('"status":"failed"'));
  const failed = response.statusCode !== 200 || (stream ? text.includes('response.failed') : text.includes('"status":"failed"'));
  return { status: response.statusCode, total, completed, failedCode: failed ? (FAILED_CODE.exec(text)?.[1] ?? `http_${response.statusCode}`) : null, text: text.slice(0, 300) };
}

function body(turn: Turn, tag: string, stream: boolean, promptCacheKey?: string): Buffer {
  const input = [...turn.input.slice(0, -1), { type: 'message', role: 'user', content: [{ type: 'input_text', text: `hello (bench-tag ${tag})` }] }];
  return Buffer.from(JSON.stringify({ model: 'gpt-5.4', instructions: turn.instructions, input, stream, store: false, ...(promptCacheKey ? { prompt_cache_key: promptCacheKey } : {}) }));
}

async function routes(upstream: Child): Promise<Record<string, string[]>> {
  return (await upstream.call('routes')).routes as Record<string, string[]>;
}

function checkDeadline(deadline: number): void {
  if (performance.now() > deadline) throw new DeadlineError('the benchmark ran past --max-seconds');
}

// ---------------------------------------------------------------- failover

export type FailoverKind = { id: string; title: string; stream: boolean; outcome: ScriptedOutcome; expectDirect: (s: Sent) => boolean };

export const FAILOVER_KINDS: FailoverKind[] = [
  {
    id: 'json-500',
    title: 'stream:false, first account answers HTTP 500',
    stream: false,
    outcome: { kind: 'status', status: 500, on: 'responses' },
    expectDirect: (s) => s.status === 500,
  },
  {
    id: 'stream-overloaded',
    title: 'stream:true, first account answers 200 then a first event response.failed server_is_overloaded',
    stream: true,
    outcome: { kind: 'first-event-failure', code: 'server_is_overloaded', on: 'responses' },
    expectDirect: (s) => s.status === 200 && s.failedCode === 'server_is_overloaded',
  },
];

export type FailoverResult = {
  kind: string;
  title: string;
  samples: number;
  /** samples where the gateway tried the scripted account first, then answered 200 from another one */
  valid: number;
  errors: number;
  errorExamples: string[];
  /** ms, whole answer: a normal request of the same session, through the gateway */
  normal: Summary;
  /** ms, the scripted failure sent straight to the fake upstream: the failing upstream's own time */
  failingUpstream: Summary;
  /** ms, the request through the gateway whose first account fails */
  failover: Summary;
  /** ms, per sample: failover − failingUpstream − normal */
  added: Summary;
  /** accounts the failed-over requests landed on */
  fellBackTo: Record<string, number>;
};

export async function failoverTest(opts: {
  agent: Agent;
  gatewayOrigin: string;
  upstreamOrigin: string;
  keys: string[];
  accounts: FakeAccount[];
  turn: Turn;
  samples: number;
  upstream: Child;
  deadline: number;
}): Promise<FailoverResult[]> {
  const tokens = new Map(opts.accounts.map((a) => [a.accountId, a.accessToken]));
  const out: FailoverResult[] = [];
  for (const [k, kind] of FAILOVER_KINDS.entries()) {
    const normal: number[] = [];
    const failing: number[] = [];
    const failover: number[] = [];
    const added: number[] = [];
    const errorExamples: string[] = [];
    const fellBackTo: Record<string, number> = {};
    let errors = 0;
    const fail = (message: string) => {
      errors++;
      if (errorExamples.length < 3) errorExamples.push(message);
    };
    for (let i = 0; i < opts.samples; i++) {
      checkDeadline(opts.deadline);
      // A key of its own per sample: a route failure demotes the account for that key (60 s).
      const key = opts.keys[(k * opts.samples + i) % opts.keys.length]!;
      const run = randomUUID().slice(0, 8);
      const session = `bench-failover-${kind.id}-${i}-${run}`;
      const gatewayHeaders = { authorization: `Bearer ${key}`, session_id: session };
      const tag = (step: string) => `fo.${kind.id}.${i}.${run}.${step}`;
      // Warm: the key's cache entry and the session's account.
      const warm = await send(opts.agent, opts.gatewayOrigin, gatewayHeaders, body(opts.turn, tag('warm'), kind.stream), kind.stream);
      const plain = await send(opts.agent, opts.gatewayOrigin, gatewayHeaders, body(opts.turn, tag('normal'), kind.stream), kind.stream);
      if (!warm.completed || !plain.completed) {
        fail(`sample ${i}: a normal request failed: HTTP ${plain.status} ${plain.text}`);
        continue;
      }
      const seen = await routes(opts.upstream);
      const account = seen[tag('normal')]?.at(-1);
      if (!account || seen[tag('normal')]!.length !== 1) {
        fail(`sample ${i}: the normal request reached ${JSON.stringify(seen[tag('normal')])}`);
        continue;
      }
      // The failing upstream's own time: the same scripted failure, straight to the fake.
      await opts.upstream.call('script', { accountId: account, outcome: kind.outcome });
      const direct = await send(opts.agent, opts.upstreamOrigin, { authorization: `Bearer ${tokens.get(account)}`, 'chatgpt-account-id': account }, body(opts.turn, tag('direct'), kind.stream), kind.stream);
      if (!kind.expectDirect(direct)) {
        fail(`sample ${i}: the scripted failure answered HTTP ${direct.status} ${direct.text}`);
        continue;
      }
      // One failover: the session's account fails first.
      await opts.upstream.call('script', { accountId: account, outcome: kind.outcome });
      const moved = await send(opts.agent, opts.gatewayOrigin, gatewayHeaders, body(opts.turn, tag('failover'), kind.stream), kind.stream);
      const path = (await routes(opts.upstream))[tag('failover')] ?? [];
      if (path[0] !== account) {
        // The script is still queued on that account: spend it so it cannot fail a later request.
        await send(opts.agent, opts.upstreamOrigin, { authorization: `Bearer ${tokens.get(account)}`, 'chatgpt-account-id': account }, body(opts.turn, tag('drain'), kind.stream), kind.stream);
        fail(`sample ${i}: the gateway did not try the session's account ${account} first: ${JSON.stringify(path)}`);
        continue;
      }
      if (!moved.completed || path.length !== 2 || path[1] === account) {
        fail(`sample ${i}: failover request reached ${JSON.stringify(path)} and answered HTTP ${moved.status} ${moved.completed ? '' : moved.text}`);
        continue;
      }
      fellBackTo[path[1]!] = (fellBackTo[path[1]!] ?? 0) + 1;
      normal.push(plain.total);
      failing.push(direct.total);
      failover.push(moved.total);
      added.push(moved.total - direct.total - plain.total);
    }
    out.push({
      kind: kind.id,
      title: kind.title,
      samples: opts.samples,
      valid: added.length,
      errors,
      errorExamples,
      normal: summarize(normal),
      failingUpstream: summarize(failing),
      failover: summarize(failover),
      added: summarize(added),
      fellBackTo,
    });
  }
  return out;
}

// ---------------------------------------------------------------- stickiness

export type StickinessResult = {
  sessions: number;
  requestsPerSession: number;
  concurrency: number;
  accounts: number;
  requests: number;
  errors: number;
  errorExamples: string[];
  /** Σ over sessions of the requests its most used account served, over all requests served */
  ratio: number;
  byAffinity: Record<'session_id' | 'prompt_cache_key', { sessions: number; ratio: number }>;
  minSessionRatio: number;
  /** sessions with at least one request on a second account */
  sessionsThatMoved: number;
  /** requests the fake saw more than once (a failover inside the run) */
  requestsWithFailover: number;
  /** each session's main account: how the sessions spread over the pool */
  sessionsPerAccount: Record<string, number>;
  durationMs: number;
};

export async function stickinessTest(opts: {
  agent: Agent;
  gatewayOrigin: string;
  key: string;
  accounts: FakeAccount[];
  turn: Turn;
  sessions: number;
  requestsPerSession: number;
  concurrency: number;
  upstream: Child;
  deadline: number;
}): Promise<StickinessResult> {
  const run = randomUUID().slice(0, 8);
  const auth = { authorization: `Bearer ${opts.key}` };
  // Until every account has answered once, accounts without quota evidence rank after those with
  // some (routing spec A5), which moves sessions as evidence arrives: a start-up effect, not the
  // steady state this figure is about. Spread unkeyed requests until every account has been seen.
  const seenAccounts = new Set<string>();
  for (let i = 0; i < 200 && seenAccounts.size < opts.accounts.length; i++) {
    checkDeadline(opts.deadline);
    await send(opts.agent, opts.gatewayOrigin, auth, body(opts.turn, `st.${run}.warm.${i}`, false), false);
    if (i % 4 === 3) for (const list of Object.values(await routes(opts.upstream))) for (const a of list) seenAccounts.add(a);
  }
  await routes(opts.upstream);

  type Job = { session: number; request: number };
  const kindOf = (s: number): 'session_id' | 'prompt_cache_key' => (s % 2 === 0 ? 'session_id' : 'prompt_cache_key');
  const sessionKey = (s: number) => `bench-sticky-${run}-${s}`;
  // Round-robin over sessions (shuffled each round), so sessions interleave as they would in a busy pool.
  const jobs: Job[] = [];
  for (let r = 0; r < opts.requestsPerSession; r++) {
    const round = Array.from({ length: opts.sessions }, (_, s) => ({ session: s, request: r }));
    for (let i = round.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [round[i], round[j]] = [round[j]!, round[i]!];
    }
    jobs.push(...round);
  }
  const tagOf = (job: Job) => `st.${run}.${job.session}.${job.request}`;
  let errors = 0;
  const errorExamples: string[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      checkDeadline(opts.deadline);
      const kind = kindOf(job.session);
      const headers = kind === 'session_id' ? { ...auth, session_id: sessionKey(job.session) } : auth;
      try {
        const sent = await send(opts.agent, opts.gatewayOrigin, headers, body(opts.turn, tagOf(job), false, kind === 'prompt_cache_key' ? sessionKey(job.session) : undefined), false);
        if (!sent.completed) throw new Error(`HTTP ${sent.status} ${sent.text}`);
      } catch (error) {
        errors++;
        if (errorExamples.length < 3) errorExamples.push(error instanceof Error ? error.message : String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const durationMs = performance.now() - started;
  const seen = await routes(opts.upstream);

  let served = 0;
  let onMain = 0;
  let minSessionRatio = 1;
  let sessionsThatMoved = 0;
  let requestsWithFailover = 0;
  const sessionsPerAccount: Record<string, number> = Object.fromEntries(opts.accounts.map((a) => [a.accountId, 0]));
  const byAffinity = { session_id: { sessions: 0, served: 0, onMain: 0 }, prompt_cache_key: { sessions: 0, served: 0, onMain: 0 } };
  for (let s = 0; s < opts.sessions; s++) {
    const counts = new Map<string, number>();
    let n = 0;
    for (let r = 0; r < opts.requestsPerSession; r++) {
      const path = seen[tagOf({ session: s, request: r })];
      if (!path?.length) continue;
      if (path.length > 1) requestsWithFailover++;
      const account = path.at(-1)!;
      counts.set(account, (counts.get(account) ?? 0) + 1);
      n++;
    }
    if (n === 0) continue;
    const [main, top] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
    sessionsPerAccount[main] = (sessionsPerAccount[main] ?? 0) + 1;
    served += n;
    onMain += top;
    minSessionRatio = Math.min(minSessionRatio, top / n);
    if (counts.size > 1) sessionsThatMoved++;
    const group = byAffinity[kindOf(s)];
    group.sessions++;
    group.served += n;
    group.onMain += top;
  }
  return {
    sessions: opts.sessions,
    requestsPerSession: opts.requestsPerSession,
    concurrency: opts.concurrency,
    accounts: opts.accounts.length,
    requests: jobs.length,
    errors,
    errorExamples,
    ratio: served ? onMain / served : Number.NaN,
    byAffinity: {
      session_id: { sessions: byAffinity.session_id.sessions, ratio: byAffinity.session_id.served ? byAffinity.session_id.onMain / byAffinity.session_id.served : Number.NaN },
      prompt_cache_key: { sessions: byAffinity.prompt_cache_key.sessions, ratio: byAffinity.prompt_cache_key.served ? byAffinity.prompt_cache_key.onMain / byAffinity.prompt_cache_key.served : Number.NaN },
    },
    minSessionRatio,
    sessionsThatMoved,
    requestsWithFailover,
    sessionsPerAccount,
    durationMs,
  };
}
