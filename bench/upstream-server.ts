/**
 * Benchmark child: the fake ChatGPT Codex upstream from test/support, alone in its own process so
 * that neither the gateway nor the load generator shares its event loop.
 *
 *   node bench/upstream-server.ts --accounts 4
 *
 * Prints `{"type":"ready","url":…,"accounts":[{accountId, accessToken, authJson}]}` on stdout.
 * Control ops: `mem`, `event-delay {ms}`, `stats`, and for the routing figures `track {on}`,
 * `routes` (which account received each tagged request, in arrival order) and
 * `script {accountId, outcome}` (queue a scripted failure on one account); closing stdin stops it.
 */
import { parseArgs } from 'node:util';
import { startFakeUpstream, type ScriptedOutcome } from '../test/support/fake-upstream.ts';
import { processSample, send, serveControl } from './control.ts';

const { values } = parseArgs({ options: { accounts: { type: 'string', default: '4' } } });

try {
  // Non-strict: the fake then only checks what the gateway must get right (auth, account id, input).
  const fake = await startFakeUpstream({ strict: false });
  const accounts = [];
  for (let i = 0; i < Number(values.accounts); i++) {
    const accountId = `acct-bench-${String(i).padStart(2, '0')}`;
    // Long-lived access tokens: no refresh happens inside a benchmark run.
    const added = await fake.addAccount({ accountId, email: `${accountId}@example.com`, accessExpiresInSec: 6 * 3600 });
    accounts.push({ accountId, accessToken: added.accessToken, authJson: added.authJson });
  }

  // The fake records every request for tests; a benchmark would make that an ever-growing array.
  // While tracking is on (the routing figures), the account that received each request tagged
  // `bench-tag <tag>` in its body is recorded, in arrival order: a failover shows as [A, B].
  let served = 0;
  let tracking = false;
  const routes = new Map<string, string[]>();
  const TAG = /bench-tag ([\w.:-]+)/;
  const drain = () => {
    if (tracking) {
      for (const record of fake.requests) {
        const tag = record.accountId === null ? null : TAG.exec(record.rawBody)?.[1];
        if (!tag) continue;
        const list = routes.get(tag);
        if (list) list.push(record.accountId!);
        else routes.set(tag, [record.accountId!]);
      }
    }
    served += fake.requests.length;
    fake.requests.length = 0;
  };
  const trim = setInterval(drain, 200);
  trim.unref();

  serveControl(
    {
      mem: (request) => processSample(request),
      'event-delay': (request) => {
        fake.setEventDelayMs(Number(request.ms ?? 0));
        return { ok: true };
      },
      stats: () => {
        drain();
        return { served, abortedStreams: fake.abortedStreams, tokenCalls: fake.tokenCalls };
      },
      track: (request) => {
        drain();
        tracking = request.on === true;
        if (!tracking) routes.clear();
        return { ok: true };
      },
      // Returns and forgets what was tracked so far.
      routes: () => {
        drain();
        const out = Object.fromEntries(routes);
        routes.clear();
        return { routes: out };
      },
      script: (request) => {
        fake.script(String(request.accountId), request.outcome as ScriptedOutcome);
        return { ok: true };
      },
    },
    async () => {
      clearInterval(trim);
      await fake.close();
    },
  );
  send({ type: 'ready', url: fake.url, pid: process.pid, accounts });
} catch (error) {
  send({ type: 'fatal', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}
