import { Argument, Option, type Command } from 'commander';
import { keyObservatory, OBSERVATORY_WINDOWS, type KeyObservatory, type ObservatoryWindow } from '../accounting/index.ts';
import { apiKeyRefColumn } from '../api-keys/index.ts';
import { cliActor } from '../audit/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';
import { setDashboardAccess } from '../observatory/index.ts';
import type { OperatorContext } from './context.ts';
import { dash, formatTable, printJson } from './format.ts';

const usd = (n: number) => `$${n.toFixed(n !== 0 && Math.abs(n) < 0.01 ? 6 : 2)}`;
const pct = (n: number | null) => (n === null ? '-' : `${(n * 100).toFixed(1)}%`);

/** The human view of `keys show`: totals, limits with headroom, models and recent outcomes. */
export function formatObservatory(o: KeyObservatory): string {
  const t = o.totals;
  const lines = [
    `key ${o.key.prefix}${o.key.label ? ` (${o.key.label})` : ''}, ${o.key.status}, last ${o.window} (${o.from} to ${o.to})`,
    `requests ${t.requests} (succeeded ${t.succeeded}, failed ${t.failed}, success ${pct(t.success_rate)}), cost ${usd(t.cost_usd)}${t.priced ? '' : ' (some requests unpriced)'}`,
    `tokens ${t.total_tokens}: input ${t.fresh_input_tokens} fresh + ${t.cached_input_tokens} cached (${pct(t.cache_rate)}), output ${t.output_tokens} (reasoning ${t.reasoning_tokens})`,
    `latency ${t.avg_latency_ms === null ? '-' : `${t.avg_latency_ms} ms avg`}, throughput ${t.tokens_per_second === null ? '-' : `${t.tokens_per_second} tokens/s`}`,
    '',
  ];
  let text = lines.join('\n');
  text += o.limits.length === 0 ? 'limits: none\n' : `limits:\n${formatTable(['LIMIT', 'MODEL', 'USED', 'MAX', 'REMAINING', 'RESETS'], o.limits.map((l) => [l.field, dash(l.model), dash(l.used), String(l.max), dash(l.remaining), dash(l.resets_at)]))}`;
  if (o.models.length > 0) text += `models:\n${formatTable(['MODEL', 'REQUESTS', 'SHARE', 'TOKENS', 'COST'], o.models.map((m) => [dash(m.model), String(m.requests), pct(m.share), String(m.total_tokens), usd(m.cost_usd)]))}`;
  if (o.recent.length > 0) text += `recent:\n${formatTable(['TIME', 'MODEL', 'ENDPOINT', 'STATUS', 'LATENCY', 'TOKENS', 'COST'], o.recent.map((r) => [r.at, dash(r.model), r.endpoint, `${r.status}${r.status_code ? ` ${r.status_code}` : ''}`, r.latency_ms === null ? '-' : `${r.latency_ms} ms`, dash(r.total_tokens), usd(r.cost_usd)]))}`;
  return text;
}

/** `keys show` (the key's Observatory) and `keys dashboard-access` (the holder's sign-in). */
export function registerKeyObservatoryCommands(keys: Command, ctx: OperatorContext): void {
  keys
    .command('show')
    .description("a key's Observatory: usage, cost, limits with their headroom, model mix and recent requests")
    .argument('<key>', 'key id or prefix (sk-cxp-<12 hex>)')
    .addOption(new Option('--window <window>', 'time window').choices(Object.keys(OBSERVATORY_WINDOWS)).default('24h'))
    .option('--json', 'print the Observatory as one JSON document')
    .action(async (ref: string, options: { window: ObservatoryWindow; json?: boolean }) => {
      const { db } = await ctx.deps();
      const trimmed = ref.trim();
      const column = apiKeyRefColumn(trimmed);
      if (!column) throw invalidInput('give a key id (uuid) or prefix (sk-cxp-<12 hex>)', 'key');
      const key = await db.selectFrom('api_keys').select('id').where(column, '=', trimmed).executeTakeFirst();
      if (!key) throw new PoolerError('not_found', `api key ${trimmed} does not exist`, { param: 'key' });
      const observatory = await keyObservatory(db, key.id, options.window);
      if (options.json) return printJson(ctx.io, observatory);
      ctx.io.stdout(formatObservatory(observatory));
    });

  keys
    .command('dashboard-access')
    .description("let the key's holder sign in to the Observatory (/observatory) with the key, or stop it (ends their sessions)")
    .argument('<key>', 'key id or prefix (sk-cxp-<12 hex>)')
    .addArgument(new Argument('<state>', 'on or off').choices(['on', 'off']))
    .action(async (ref: string, state: 'on' | 'off') => {
      const deps = await ctx.deps();
      const result = await setDashboardAccess(deps, cliActor(), ref, state === 'on');
      ctx.io.stdout(`Observatory access for key ${result.prefix} is ${result.dashboardAccess ? 'on' : 'off'}\n`);
    });
}
