import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliActor } from '../audit/index.ts';
import { completeBrowserFlow, getAccount, pollDeviceFlow, startBrowserFlow, startDeviceFlow, type FlowTarget, type ImportResult } from '../upstreams/index.ts';
import { accountJson } from './accounts.ts';
import type { OperatorContext } from './context.ts';
import { dash, printJson } from './format.ts';
import { CliFailure } from './io.ts';

type LoginOptions = { device?: boolean; json?: boolean };

/**
 * `accounts login` and `accounts reauth`: sign an account in with ChatGPT from the terminal, over
 * the same services as the admin API. Browser: prints the authorize URL, reads the localhost
 * address the browser ended on from stdin. Device: prints the code and polls until approved.
 */
export function registerAccountLoginCommands(accounts: Command, ctx: OperatorContext): void {
  accounts
    .command('login')
    .description('sign a ChatGPT account in to a pool (browser link by default, --device for a device code)')
    .requiredOption('--pool <pool>', 'pool slug or id')
    .option('--device', 'use a device code instead of a browser link')
    .option('--json', 'print the linked account as JSON')
    .action(async (options: { pool: string } & LoginOptions) => signIn(ctx, { pool: options.pool, source: 'cli' }, options));

  accounts
    .command('reauth')
    .description('re-authenticate an account (e.g. one in reauth_required) by signing the same ChatGPT account in again')
    .argument('<id>', 'account id (see `accounts list`)')
    .option('--device', 'use a device code instead of a browser link')
    .option('--json', 'print the account as JSON')
    .action(async (id: string, options: LoginOptions) => {
      const { db } = await ctx.deps();
      const account = await getAccount(db, id);
      await signIn(ctx, { pool: account.poolId, identityId: account.identityId, source: 'cli' }, options);
    });
}

async function signIn(ctx: OperatorContext, target: FlowTarget, options: LoginOptions): Promise<void> {
  const result = options.device ? await deviceSignIn(ctx, target) : await browserSignIn(ctx, target);
  const { account } = result;
  if (options.json) return printJson(ctx.io, { ...accountJson(account), created: result.created });
  ctx.io.stdout(
    `${target.identityId ? 're-authenticated' : result.created ? 'linked' : 'updated'} account ${account.id} (${account.email ?? account.label}) in pool ${account.poolSlug}\n` +
      `plan ${dash(account.plan)}, state ${account.state}, ${result.primed.models} model(s), quota ${result.primed.quota ? 'known' : 'not yet known'}\n`,
  );
}

async function browserSignIn(ctx: OperatorContext, target: FlowTarget): Promise<ImportResult> {
  const { accountDeps } = await ctx.deps();
  const started = await startBrowserFlow(accountDeps, cliActor(), target);
  ctx.io.stderr(
    `Open this link in a browser and sign in with the ChatGPT account:\n\n  ${started.authorizeUrl}\n\n` +
      'The browser then lands on http://localhost:1455/auth/callback?… (the page may fail to load; that is expected).\n' +
      `Paste that whole address here and press Enter (the link expires ${started.flow.expiresAt.toISOString()}):\n`,
  );
  const pasted = (await ctx.io.readStdin('line')).trim();
  if (!pasted) throw new CliFailure('no callback address given; run the command again and paste the address the browser ended on');
  return (await completeBrowserFlow(accountDeps, cliActor(), { flowId: started.flow.id, callbackUrl: pasted })).result;
}

async function deviceSignIn(ctx: OperatorContext, target: FlowTarget): Promise<ImportResult> {
  const { accountDeps } = await ctx.deps();
  let flow = await startDeviceFlow(accountDeps, cliActor(), target);
  ctx.io.stderr(`Open ${flow.verificationUrl}, sign in with the ChatGPT account and enter the code:\n\n  ${flow.userCode}\n\nWaiting for approval (expires ${flow.expiresAt.toISOString()})`);
  // Bounded by the flow's expiry: the service answers expired_flow once it passed.
  for (;;) {
    const polled = await pollDeviceFlow(accountDeps, cliActor(), flow.id);
    if (polled.status === 'completed') {
      ctx.io.stderr(' approved\n');
      return polled.result;
    }
    flow = polled.flow;
    ctx.io.stderr('.');
    const waitMs = Math.max(250, (flow.pollAfter?.getTime() ?? Date.now() + (flow.intervalSeconds ?? 5) * 1000) - Date.now());
    await sleep(waitMs);
  }
}
