import type { Command } from 'commander';
import { cliActor } from '../audit/index.ts';
import { disableAccount, enableAccount, importAuthJson, listAccounts, removeAccount, type AccountView, type QuotaWindowView } from '../upstreams/index.ts';
import { registerAccountLoginCommands } from './account-login.ts';
import type { OperatorContext } from './context.ts';
import { OPERATOR_GROUP_DESCRIPTIONS } from './groups.ts';
import { dash, formatTable, isoOrNull, printJson } from './format.ts';
import { readInputFile } from './io.ts';

type QuotaJson = { used_percent: number | null; window_minutes: number | null; resets_at: string | null } | null;

export type AccountJson = {
  id: string;
  pool: string;
  label: string;
  email: string | null;
  chatgpt_account_id: string | null;
  plan: string | null;
  state: string;
  cooldown_until: string | null;
  quota: { primary: QuotaJson; secondary: QuotaJson };
};

const quotaJson = (window: QuotaWindowView | null): QuotaJson =>
  window ? { used_percent: window.used_percent, window_minutes: window.window_minutes, resets_at: window.resets_at } : null;

export const accountJson = (account: AccountView): AccountJson => ({
  id: account.id,
  pool: account.poolSlug,
  label: account.label,
  email: account.email,
  chatgpt_account_id: account.chatgptAccountId,
  plan: account.plan,
  state: account.state,
  cooldown_until: isoOrNull(account.cooldownUntil),
  quota: { primary: quotaJson(account.quota.primary), secondary: quotaJson(account.quota.secondary) },
});

function windowLabel(minutes: number | null): string {
  if (minutes === null) return '';
  if (minutes % 1440 === 0) return `${minutes / 1440}d`;
  if (minutes % 60 === 0) return `${minutes / 60}h`;
  return `${minutes}m`;
}

/** `42% of 5h` (and `stale` when the evidence is old). */
function quotaCell(window: QuotaWindowView | null): string {
  if (!window || window.used_percent === null) return '-';
  const span = windowLabel(window.window_minutes);
  return `${Math.round(window.used_percent)}%${span ? ` of ${span}` : ''}${window.stale ? ' (stale)' : ''}`;
}

export function registerAccountCommands(program: Command, ctx: OperatorContext): void {
  const accounts = program.command('accounts').description(OPERATOR_GROUP_DESCRIPTIONS.accounts);

  accounts
    .command('import')
    .description('import a Codex auth.json (written by `codex login`) into a pool')
    .argument('<file>', 'path to auth.json, or - to read it from stdin')
    .requiredOption('--pool <pool>', 'pool slug or id')
    .option('--label <label>', 'label shown for this account')
    .action(async (file: string, options: { pool: string; label?: string }) => {
      const deps = await ctx.deps();
      const authJson = await readInputFile(ctx.io, file);
      const result = await importAuthJson(deps.accountDeps, cliActor(), { pool: options.pool, authJson, label: options.label ?? null });
      const { account } = result;
      ctx.io.stdout(
        `${result.created ? 'imported' : 'updated'} account ${account.id} (${account.email ?? account.label}) in pool ${account.poolSlug}\n` +
          `plan ${dash(account.plan)}, state ${account.state}, ${result.primed.models} model(s), quota ${result.primed.quota ? 'known' : 'not yet known'}\n`,
      );
    });

  accounts
    .command('list')
    .description('list accounts with their state and quota')
    .option('--pool <pool>', 'only this pool (slug or id)')
    .option('--json', 'print a JSON array')
    .action(async (options: { pool?: string; json?: boolean }) => {
      const { db } = await ctx.deps();
      const list = await listAccounts(db, options.pool ? { pool: options.pool } : {});
      if (options.json) return printJson(ctx.io, list.map(accountJson));
      if (list.length === 0) return ctx.io.stdout('no accounts: import one with `codex-pooler accounts import --pool NAME auth.json`\n');
      ctx.io.stdout(
        formatTable(
          ['ID', 'POOL', 'LABEL', 'EMAIL', 'PLAN', 'STATE', 'PRIMARY', 'SECONDARY'],
          list.map((a) => [a.id, a.poolSlug, a.label, dash(a.email), dash(a.plan), a.state, quotaCell(a.quota.primary), quotaCell(a.quota.secondary)]),
        ),
      );
    });

  const setState = (name: 'disable' | 'enable' | 'remove', description: string, run: typeof disableAccount) =>
    accounts
      .command(name)
      .description(description)
      .argument('<id>', 'account id (see `accounts list`)')
      .action(async (id: string) => {
        const deps = await ctx.deps();
        const account = await run(deps, cliActor(), id);
        ctx.io.stdout(name === 'remove' ? `removed account ${account.id} from pool ${account.poolSlug}\n` : `account ${account.id} is now ${account.state}\n`);
      });
  setState('disable', 'stop routing requests to an account', disableAccount);
  setState('enable', 'route requests to a disabled account again', enableAccount);
  setState('remove', 'remove an account from its pool (its credentials go when no pool uses them)', removeAccount);
  registerAccountLoginCommands(accounts, ctx);
}
