import { InvalidArgumentError, Option, type Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { usageExport, usageReport, type UsageGroupBy, type UsageReportRow } from '../accounting/index.ts';
import { findPool } from '../pools/index.ts';
import type { OperatorContext } from './context.ts';
import { formatTable, printJson } from './format.ts';
import { OPERATOR_GROUP_DESCRIPTIONS } from './groups.ts';
import { CliFailure, EXIT_USAGE } from './io.ts';

const GROUPS = { day: 'day', key: 'api_key', account: 'account', model: 'model' } as const satisfies Record<string, UsageGroupBy>;
type GroupOption = keyof typeof GROUPS;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

function parseDuration(value: string): number {
  const match = /^(\d+)([mhdw])$/.exec(value.trim());
  if (!match || Number(match[1]) === 0) throw new InvalidArgumentError('expected a duration such as 30m, 24h, 7d or 2w');
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

function parseTime(value: string): Date {
  const text = value.trim();
  const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(date.getTime())) throw new InvalidArgumentError('expected an ISO-8601 date (UTC day) or date-time, such as 2026-11-27 or 2026-11-27T12:00:00Z');
  return date;
}

/** `usage --json` rows: the group under its own name (`day`, `key`, `account`, `model`), then the measures. */
export function usageRowJson(group: GroupOption, row: UsageReportRow): Record<string, unknown> {
  return {
    [group]: row.key,
    label: row.label,
    requests: row.requests,
    succeeded: row.succeeded,
    failed: row.failed,
    input_tokens: row.input_tokens,
    cached_input_tokens: row.cached_input_tokens,
    output_tokens: row.output_tokens,
    reasoning_tokens: row.reasoning_tokens,
    total_tokens: row.total_tokens,
    cost_usd: row.cost_usd,
    settled_cost_usd: Math.round(row.settled_cost_micros) / 1e6,
    estimated_cost_usd: Math.round(row.estimated_cost_micros) / 1e6,
    unpriced_requests: row.unpriced_requests,
    priced: row.priced,
  };
}

const money = (usd: number) => `$${usd.toFixed(usd !== 0 && Math.abs(usd) < 0.01 ? 6 : 2)}`;

export function registerUsageCommand(program: Command, ctx: OperatorContext): void {
  const usage = program
    .command('usage')
    .description(`${OPERATOR_GROUP_DESCRIPTIONS.usage} (days already rolled up plus live rows)`)
    .addOption(new Option('--by <group>', 'group rows by').choices(Object.keys(GROUPS)).default('day'))
    .option('--pool <pool>', 'only this pool (slug or id)')
    .option('--since <duration>', 'the last 30m, 24h, 7d, 2w… (default 24h)', parseDuration)
    .option('--from <time>', 'start (a UTC day such as 2026-11-27, or an ISO date-time); instead of --since', parseTime)
    .option('--to <time>', 'end, exclusive (default now)', parseTime)
    .option('--json', 'print a JSON array of rows')
    .action(async (options: { by: GroupOption; pool?: string; since?: number; from?: Date; to?: Date; json?: boolean }) => {
      if (options.since !== undefined && options.from !== undefined) throw new CliFailure('use either --since or --from, not both', EXIT_USAGE);
      const to = options.to ?? new Date();
      const from = options.from ?? new Date(to.getTime() - (options.since ?? UNIT_MS.h * 24));
      const { db } = await ctx.deps();
      const pool = options.pool ? await findPool(db, options.pool) : null;
      const report = await usageReport(db, { from, to, groupBy: GROUPS[options.by], poolIds: pool ? [pool.id] : null });
      if (options.json) return printJson(ctx.io, report.rows.map((row) => usageRowJson(options.by, row)));
      const scope = `${pool ? `pool ${pool.slug}` : 'all pools'}, ${from.toISOString()} to ${to.toISOString()}`;
      if (report.rows.length === 0) return ctx.io.stdout(`no requests (${scope})\n`);
      const none = options.by === 'key' ? '(no key)' : options.by === 'account' ? '(no account)' : '(no model)';
      const line = (name: string, r: Omit<UsageReportRow, 'key' | 'label'>) => [
        name,
        String(r.requests),
        String(r.input_tokens),
        String(r.cached_input_tokens),
        String(r.output_tokens),
        String(r.reasoning_tokens),
        String(r.total_tokens),
        `${money(r.cost_usd)}${r.priced ? '' : '*'}`,
      ];
      const name = (r: UsageReportRow) => (r.key === null ? none : r.label ? `${r.label} (${r.key})` : r.key);
      ctx.io.stdout(
        `usage by ${options.by} (${scope})\n` +
          formatTable(
            [options.by.toUpperCase(), 'REQUESTS', 'INPUT', 'CACHED', 'OUTPUT', 'REASONING', 'TOTAL TOKENS', 'COST'],
            [...report.rows.map((r) => line(name(r), r)), line('total', report.totals)],
          ) +
          (report.totals.unpriced_requests > 0 ? `* ${report.totals.unpriced_requests} requests had no price: their usage is counted, their cost is not\n` : ''),
      );
    });

  // Commander hands options `usage` itself declares (--pool, --by, --since, --from, --to) to
  // `usage`, wherever they appear; `export` reads them from there and adds its own.
  usage
    .command('export')
    .description("export one pool's usage and cost over a period as CSV (header row, USD to 6 decimals) or JSON; takes --pool (required), --by, --since (default 7d), --from and --to like `usage`")
    .addOption(new Option('--format <format>', 'file format').choices(['csv', 'json']).default('csv'))
    .option('--output <file>', 'write to this file instead of stdout')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<{ pool?: string; format: 'csv' | 'json'; by: GroupOption; since?: number; from?: Date; to?: Date; output?: string; json?: boolean }>();
      if (!options.pool) throw new CliFailure('usage export needs --pool <pool>', EXIT_USAGE);
      if (options.json) throw new CliFailure('usage export takes --format json, not --json', EXIT_USAGE);
      if (options.since !== undefined && options.from !== undefined) throw new CliFailure('use either --since or --from, not both', EXIT_USAGE);
      const to = options.to ?? new Date();
      const from = options.from ?? new Date(to.getTime() - (options.since ?? UNIT_MS.d * 7));
      const { db } = await ctx.deps();
      const pool = await findPool(db, options.pool);
      const exported = await usageExport(db, { pool, from, to, by: options.by, format: options.format });
      if (!options.output) return ctx.io.stdout(exported.body);
      const path = isAbsolute(options.output) ? options.output : resolve(ctx.io.cwd, options.output);
      await writeFile(path, exported.body, { mode: 0o600 }).catch((error: NodeJS.ErrnoException) => {
        throw new CliFailure(`cannot write ${options.output}: ${error.code === 'EACCES' ? 'permission denied' : error.code === 'ENOENT' ? 'no such directory' : error.message}`);
      });
      ctx.io.stderr(`wrote ${exported.filename.endsWith('.csv') ? 'CSV' : 'JSON'} usage of pool ${pool.slug} (${from.toISOString()} to ${to.toISOString()}) to ${options.output}\n`);
    });
}
