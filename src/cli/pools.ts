import { InvalidArgumentError, Option, type Command } from 'commander';
import { cliActor } from '../audit/index.ts';
import { createPool, deletePool, getPoolRouting, listPools, MAX_BRIDGE_RING_SIZE, renamePool, ROUTING_STRATEGIES, updatePoolRouting, type PoolRouting, type PoolRoutingEdit, type PoolSummary, type RoutingStrategy } from '../pools/index.ts';
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

export type RoutingFlags = {
  strategy?: RoutingStrategy;
  ringSize?: number;
  stickyHttp?: OnOff;
  stickyWebsocket?: OnOff;
  promptCacheAffinity?: OnOff;
  v1?: OnOff;
  images?: OnOff;
  json?: boolean;
};
type OnOff = 'on' | 'off';

/** Pure: `--ring-size`, a whole number from 1 (commander turns the throw into exit 2). */
export function parseRingSize(value: string): number {
  const trimmed = value.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < 1 || Number(trimmed) > MAX_BRIDGE_RING_SIZE) throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_BRIDGE_RING_SIZE}`);
  return Number(trimmed);
}

/** Pure: the routing edit the flags ask for; empty when none was given (then the command only prints). */
export function routingEditFromFlags(flags: RoutingFlags): PoolRoutingEdit {
  const edit: PoolRoutingEdit = {};
  const on = (value: OnOff | undefined) => (value === undefined ? undefined : value === 'on');
  if (flags.strategy !== undefined) edit.routing_strategy = flags.strategy;
  if (flags.ringSize !== undefined) edit.bridge_ring_size = flags.ringSize;
  const flagsToFields: [OnOff | undefined, keyof PoolRoutingEdit][] = [
    [flags.stickyHttp, 'sticky_http_sessions'],
    [flags.stickyWebsocket, 'sticky_websocket_sessions'],
    [flags.promptCacheAffinity, 'prompt_cache_affinity_enabled'],
    [flags.v1, 'v1_compatibility_enabled'],
    [flags.images, 'allow_image_generation'],
  ];
  for (const [value, field] of flagsToFields) if (value !== undefined) Object.assign(edit, { [field]: on(value) });
  return edit;
}

const onOff = (value: boolean) => (value ? 'on' : 'off');

function printRouting(ctx: OperatorContext, slug: string, routing: PoolRouting): void {
  const rows: [string, string][] = [
    ['strategy', routing.routing_strategy],
    // Every strategy's plan is cut to this many accounts (routing spec A5 step 9), not only bridge_ring's.
    ['ring size', String(routing.bridge_ring_size)],
    ['sticky http sessions', onOff(routing.sticky_http_sessions)],
    ['sticky websocket sessions', onOff(routing.sticky_websocket_sessions)],
    ['prompt cache affinity', onOff(routing.prompt_cache_affinity_enabled)],
    ['/v1 compatibility', onOff(routing.v1_compatibility_enabled)],
    ['image generation', onOff(routing.allow_image_generation)],
    ['request compression', `${onOff(routing.request_compression_enabled)} (not supported by this gateway)`],
  ];
  ctx.io.stdout(`routing of pool ${slug}\n${formatTable(['SETTING', 'VALUE'], rows)}`);
}

const onOffOption = (flag: string, description: string) => new Option(`${flag} <on|off>`, description).choices(['on', 'off']);

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
    .command('routing')
    .description("show a pool's routing settings; with options, change them (owner action, audited)")
    .argument('<pool>', 'pool slug or id')
    .addOption(new Option('--strategy <strategy>', 'how accounts are ordered').choices(ROUTING_STRATEGIES))
    .addOption(new Option('--ring-size <n>', `accounts in a request's plan (1-${MAX_BRIDGE_RING_SIZE})`).argParser(parseRingSize))
    .addOption(onOffOption('--sticky-http', 'keep HTTP requests of a session on one account'))
    .addOption(onOffOption('--sticky-websocket', 'keep websocket sessions on one account'))
    .addOption(onOffOption('--prompt-cache-affinity', 'route by prompt_cache_key when there is no session'))
    .addOption(onOffOption('--v1', 'accept OpenAI-compatible /v1 requests'))
    .addOption(onOffOption('--images', 'allow /v1/images generation and edits'))
    .option('--json', 'print the settings as one JSON object')
    .action(async (ref: string, options: RoutingFlags) => {
      const deps = await ctx.deps();
      const edit = routingEditFromFlags(options);
      if (Object.keys(edit).length === 0) {
        const { pool, routing } = await getPoolRouting(deps.db, ref);
        return options.json ? printJson(ctx.io, routing) : printRouting(ctx, pool.slug, routing);
      }
      const updated = await updatePoolRouting(deps, cliActor(), ref, edit);
      if (options.json) return printJson(ctx.io, updated.routing);
      ctx.io.stdout(updated.changed.length ? `changed ${updated.changed.join(', ')}\n` : 'nothing changed: the settings already had these values\n');
      printRouting(ctx, updated.pool.slug, updated.routing);
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
