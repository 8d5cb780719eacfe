import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliActor } from '../audit/index.ts';
import { isUuid, type Db } from '../db/index.ts';
import { invalidInput } from '../errors.ts';
import { completeBrowserFlow, flowJson, getAccount, pollDeviceFlow, startBrowserFlow, startDeviceFlow, type FlowTarget, type ImportResult, type OAuthFlowJson, type OAuthFlowView } from '../upstreams/index.ts';
import { accountJson, type AccountJson } from './accounts.ts';
import type { OperatorContext } from './context.ts';
import { dash, printJson } from './format.ts';
import { CliFailure, EXIT_OK, EXIT_USAGE } from './io.ts';

/** A sign-in as scripts see it: never the state, verifier or device id. */
export type FlowJson = OAuthFlowJson;
type LinkedJson = { account: AccountJson; created: boolean; primed: { models: number; quota: boolean } };
export type StartJson = { flow: FlowJson; authorize_url?: string };
export type CompletedJson = { status: 'completed'; flow: FlowJson } & LinkedJson;
export type PollJson = { status: 'pending'; flow: FlowJson } | CompletedJson;

const completedJson = (done: { flow: OAuthFlowView; result: ImportResult }): CompletedJson => ({
  status: 'completed',
  flow: flowJson(done.flow),
  account: accountJson(done.result.account),
  created: done.result.created,
  primed: done.result.primed,
});

const SCRIPTING_HELP = `
Sign-in steps for scripts (what login and reauth run; each answers at once, --json prints one JSON document):
  oauth-start --pool P [--account ID] [--device] --json
      {flow: {id, kind, purpose, status, user_code, verification_url, interval_seconds,
       poll_after, expires_at, error_code, ...}, authorize_url (browser only)}
  oauth-complete FLOW_ID CALLBACK_URL --json   browser: the address the browser ended on (- reads stdin)
  oauth-poll FLOW_ID --json                    device: {status: "pending", flow}; poll again after flow.poll_after
  Both finish with {status: "completed", flow, account, created, primed}; a failure (an expired
  flow, the address of another sign-in, a denied code) exits 1 with the reason on stderr. A flow
  lives 10 minutes; a newer one for the same pool or account cancels it.
`;

/**
 * Signing an account in with ChatGPT from the terminal, over the same services as the admin API.
 * `oauth-start`, `oauth-complete` and `oauth-poll` are the steps, each a short command. `login`
 * and `reauth` drive them from the operator's terminal through `ctx.invoke`, so they work the same
 * whether the steps run here (DATABASE_URL) or inside the server holding the embedded database:
 * the link or code shows at once, the pasted address is read here, the waiting happens here.
 */
export function registerAccountLoginCommands(accounts: Command, ctx: OperatorContext): void {
  accounts.addHelpText('after', SCRIPTING_HELP);

  accounts
    .command('login')
    .description('sign a ChatGPT account in to a pool (browser link by default, --device for a device code)')
    .requiredOption('--pool <pool>', 'pool slug or id')
    .option('--device', 'use a device code instead of a browser link')
    .option('--json', 'print the linked account as JSON')
    .action(async (options: LoginOptions & { pool: string }) => signIn(ctx, ['--pool', options.pool], options));

  accounts
    .command('reauth')
    .description('re-authenticate an account (e.g. one in reauth_required) by signing the same ChatGPT account in again')
    .argument('<id>', 'account id (see `accounts list`)')
    .option('--device', 'use a device code instead of a browser link')
    .option('--json', 'print the account as JSON')
    .action(async (id: string, options: LoginOptions) => signIn(ctx, ['--account', id], options));

  accounts
    .command('oauth-start')
    .description('start a sign-in: print its browser link, or with --device its code (then oauth-complete / oauth-poll)')
    .option('--pool <pool>', 'sign a new account in to this pool (slug or id)')
    .option('--account <id>', 're-authenticate this account instead (its pool is implied)')
    .option('--device', 'use a device code instead of a browser link')
    .option('--json', 'print {flow, authorize_url} as JSON')
    .action(async (options: { pool?: string; account?: string; device?: boolean; json?: boolean }) => {
      if (!options.pool && !options.account) throw new CliFailure('oauth-start needs --pool (sign a new account in) or --account (re-authenticate one)', EXIT_USAGE);
      const { db, accountDeps } = await ctx.deps();
      const target = await flowTarget(db, options);
      if (options.device) {
        const flow = await startDeviceFlow(accountDeps, cliActor(), target);
        if (options.json) return printJson(ctx.io, { flow: flowJson(flow) } satisfies StartJson);
        return ctx.io.stdout(
          `started device sign-in ${flow.id} (expires ${flow.expiresAt.toISOString()})\n` +
            `open ${dash(flow.verificationUrl)} and enter the code ${dash(flow.userCode)}\n` +
            `then run \`codex-pooler accounts oauth-poll ${flow.id}\` every ${flow.intervalSeconds ?? 5} s until it completes\n`,
        );
      }
      const started = await startBrowserFlow(accountDeps, cliActor(), target);
      if (options.json) return printJson(ctx.io, { flow: flowJson(started.flow), authorize_url: started.authorizeUrl } satisfies StartJson);
      ctx.io.stdout(
        `started browser sign-in ${started.flow.id} (expires ${started.flow.expiresAt.toISOString()})\n` +
          `open ${started.authorizeUrl}\n` +
          `then run \`codex-pooler accounts oauth-complete ${started.flow.id} '<the http://localhost:1455/auth/callback?… address>'\`\n`,
      );
    });

  accounts
    .command('oauth-complete')
    .description('finish a browser sign-in from the http://localhost:1455/auth/callback?… address the browser ended on')
    .argument('<flow-id>', 'the flow id oauth-start printed')
    .argument('<callback-url>', 'the whole address, or - to read it from stdin')
    .option('--json', 'print {status, flow, account, created, primed} as JSON')
    .action(async (flowId: string, callbackUrl: string, options: { json?: boolean }) => {
      // Deps first: a CLI forwarding to a server reads stdin there, to send it along.
      const { accountDeps } = await ctx.deps();
      const callback = callbackUrl === '-' ? await ctx.io.readStdin('line') : callbackUrl;
      const done = await completeBrowserFlow(accountDeps, cliActor(), { flowId: checkedFlowId(flowId), callbackUrl: callback.trim() });
      if (options.json) return printJson(ctx.io, completedJson(done));
      ctx.io.stdout(linkedText(done.flow.purpose === 'relink', completedJson(done)));
    });

  accounts
    .command('oauth-poll')
    .description('ask once whether a device sign-in was approved (pending, or completed with the account)')
    .argument('<flow-id>', 'the flow id oauth-start --device printed')
    .option('--json', 'print {status, flow} or {status, flow, account, created, primed} as JSON')
    .action(async (flowId: string, options: { json?: boolean }) => {
      const { accountDeps } = await ctx.deps();
      const polled = await pollDeviceFlow(accountDeps, cliActor(), checkedFlowId(flowId));
      const answer: PollJson = polled.status === 'pending' ? { status: 'pending', flow: flowJson(polled.flow) } : completedJson(polled);
      if (options.json) return printJson(ctx.io, answer);
      if (answer.status === 'pending') return ctx.io.stdout(`pending: not approved yet; poll again after ${answer.flow.poll_after ?? 'a few seconds'} (expires ${answer.flow.expires_at})\n`);
      ctx.io.stdout(linkedText(answer.flow.purpose === 'relink', answer));
    });
}

type LoginOptions = { device?: boolean; json?: boolean };

function checkedFlowId(flowId: string): string {
  if (!isUuid(flowId.trim())) throw invalidInput('flow id must be a uuid (the flow.id that `accounts oauth-start` printed)', 'flow_id');
  return flowId.trim();
}

/** A new link into `--pool`, or a relink of `--account`'s identity (in its own pool unless given). */
async function flowTarget(db: Db, options: { pool?: string; account?: string }): Promise<FlowTarget> {
  if (!options.account) return { pool: options.pool!, source: 'cli' };
  const account = await getAccount(db, options.account);
  return { pool: options.pool ?? account.poolId, identityId: account.identityId, source: 'cli' };
}

function linkedText(relink: boolean, linked: LinkedJson): string {
  const { account } = linked;
  return (
    `${relink ? 're-authenticated' : linked.created ? 'linked' : 'updated'} account ${account.id} (${account.email ?? account.label}) in pool ${account.pool}\n` +
    `plan ${dash(account.plan)}, state ${account.state}, ${linked.primed.models} model(s), quota ${linked.primed.quota ? 'known' : 'not yet known'}\n`
  );
}

/**
 * Runs one step (`[group, command, ...args]`) and answers its JSON. Whatever the step wrote to
 * stderr (warnings) reaches the operator; a failed step becomes this command's failure, with the
 * step's message and exit code.
 */
async function step<T>(ctx: OperatorContext, argv: readonly string[]): Promise<T> {
  const run = await ctx.invoke([...argv.slice(0, 2), '--json', ...argv.slice(2)]);
  if (run.exitCode === EXIT_OK) {
    ctx.io.stderr(run.stderr);
    try {
      return JSON.parse(run.stdout) as T;
    } catch {
      throw new CliFailure(`\`${argv.slice(0, 2).join(' ')}\` printed no JSON`);
    }
  }
  const lines = run.stderr.split('\n').filter((line) => line !== '');
  const failure = lines.findLastIndex((line) => line.startsWith('codex-pooler: '));
  const message = failure === -1 ? `\`${argv.slice(0, 2).join(' ')}\` failed (exit code ${run.exitCode})` : lines[failure]!.slice('codex-pooler: '.length);
  const rest = lines.filter((_, index) => index !== failure);
  if (rest.length > 0) ctx.io.stderr(`${rest.join('\n')}\n`);
  throw new CliFailure(message, run.exitCode);
}

/** `target` is the oauth-start arguments: `--pool P` (login) or `--account ID` (reauth). */
async function signIn(ctx: OperatorContext, target: readonly string[], options: LoginOptions): Promise<void> {
  const started = await step<StartJson>(ctx, ['accounts', 'oauth-start', ...target, ...(options.device ? ['--device'] : [])]);
  const done = options.device ? await waitForDevice(ctx, started.flow) : await completeFromPaste(ctx, started);
  if (options.json) return printJson(ctx.io, { ...done.account, created: done.created });
  ctx.io.stdout(linkedText(done.flow.purpose === 'relink', done));
}

async function completeFromPaste(ctx: OperatorContext, started: StartJson): Promise<CompletedJson> {
  ctx.io.stderr(
    `Open this link in a browser and sign in with the ChatGPT account:\n\n  ${started.authorize_url}\n\n` +
      'The browser then lands on http://localhost:1455/auth/callback?… (the page may fail to load; that is expected).\n' +
      `Paste that whole address here and press Enter (the link expires ${started.flow.expires_at}):\n`,
  );
  const pasted = (await ctx.io.readStdin('line')).trim();
  if (!pasted) throw new CliFailure('no callback address given; run the command again and paste the address the browser ended on');
  // `--`: a pasted text starting with a dash is the address, not an option.
  return step<CompletedJson>(ctx, ['accounts', 'oauth-complete', '--', started.flow.id, pasted]);
}

async function waitForDevice(ctx: OperatorContext, flow: FlowJson): Promise<CompletedJson> {
  ctx.io.stderr(`Open ${flow.verification_url}, sign in with the ChatGPT account and enter the code:\n\n  ${flow.user_code}\n\nWaiting for approval (expires ${flow.expires_at})`);
  // Bounded by the flow's expiry: the poll step fails with expired_flow once it passed.
  for (;;) {
    let polled: PollJson;
    try {
      polled = await step<PollJson>(ctx, ['accounts', 'oauth-poll', flow.id]);
    } catch (error) {
      ctx.io.stderr('\n');
      throw error;
    }
    if (polled.status === 'completed') {
      ctx.io.stderr(' approved\n');
      return polled;
    }
    ctx.io.stderr('.');
    const next = polled.flow.poll_after ? Date.parse(polled.flow.poll_after) : Date.now() + (polled.flow.interval_seconds ?? 5) * 1000;
    await sleep(Math.max(250, next - Date.now()));
  }
}
