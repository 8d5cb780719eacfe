import type { Command } from 'commander';
import { cliActor } from '../audit/index.ts';
import { createPool, deletePool, listPools, renamePool, type PoolSummary } from '../pools/index.ts';
import type { OperatorContext } from './context.ts';
import { OPERATOR_GROUP_DESCRIPTIONS } from './groups.ts';
import { formatTable, printJson } from './format.ts';

export type PoolJson = { id: string; slug: string; name: string; status: string; account_count: number; key_count: number };

export const poolJson = (pool: PoolSummary): PoolJson => ({
  id: pool.id,
  slug: pool.slug,
  name: pool.name,
  status: pool.status,
  account_count: pool.accountCount,
  key_count: pool.keyCount,
});

export function registerPoolCommands(program: Command, ctx: OperatorContext): void {
  const pools = program.command('pools').description(OPERATOR_GROUP_DESCRIPTIONS.pools);

  pools
    .command('create')
    .description('create a pool (its slug is the name lowercased, with dashes)')
    .argument('<name>', 'pool name')
    .action(async (name: string) => {
      const { db } = await ctx.deps();
      const pool = await createPool(db, cliActor(), { name });
      ctx.io.stdout(`created pool ${pool.slug} (${pool.id})\n`);
    });

  pools
    .command('list')
    .description('list pools with their account and key counts')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }) => {
      const { db } = await ctx.deps();
      const list = await listPools(db);
      if (options.json) return printJson(ctx.io, list.map(poolJson));
      if (list.length === 0) return ctx.io.stdout('no pools yet: create one with `codex-pooler pools create NAME`\n');
      ctx.io.stdout(
        formatTable(
          ['SLUG', 'NAME', 'STATUS', 'ACCOUNTS', 'KEYS', 'ID'],
          list.map((p) => [p.slug, p.name, p.status, String(p.accountCount), String(p.keyCount), p.id]),
        ),
      );
    });

  pools
    .command('rename')
    .description('rename a pool (the slug stays)')
    .argument('<pool>', 'pool slug or id')
    .argument('<name>', 'new name')
    .action(async (ref: string, name: string) => {
      const { db } = await ctx.deps();
      const pool = await renamePool(db, cliActor(), ref, name);
      ctx.io.stdout(`renamed pool ${pool.slug} to ${JSON.stringify(pool.name)}\n`);
    });

  pools
    .command('delete')
    .description('delete a pool; refused while it has accounts or active keys unless --force')
    .argument('<pool>', 'pool slug or id')
    .option('--force', 'delete it together with its accounts and keys')
    .action(async (ref: string, options: { force?: boolean }) => {
      const { db } = await ctx.deps();
      const pool = await deletePool(db, cliActor(), ref, { force: Boolean(options.force) });
      ctx.io.stdout(`deleted pool ${pool.slug}\n`);
    });
}
