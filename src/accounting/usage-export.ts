/**
 * Usage and cost exports of one Pool over a period (issue 10), CSV or JSON, from the usage report:
 * the same numbers the admin UI and `codex-pooler usage` show.
 */
import type { Db } from '../db/index.ts';
import { PoolerError } from '../errors.ts';
import { usageReport, type UsageGroupBy, type UsageMeasures, type UsageReportRow } from './usage-report.ts';

export const EXPORT_GROUPS = { day: 'day', key: 'api_key', account: 'account', model: 'model' } as const satisfies Record<string, UsageGroupBy>;
export type ExportGroup = keyof typeof EXPORT_GROUPS;
export type ExportFormat = 'csv' | 'json';

export type UsageExportInput = { pool: { id: string; slug: string }; from: Date; to: Date; by: ExportGroup; format: ExportFormat; now?: Date };
export type UsageExport = { contentType: string; filename: string; body: string };

const CSV_COLUMNS = [
  'requests', 'succeeded', 'failed', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens',
  'cost_usd', 'settled_cost_usd', 'estimated_cost_usd', 'unpriced_requests', 'priced',
] as const;

/** One measure row in export units: costs in USD to the micro-dollar (6 decimals). */
export function exportMeasures(m: UsageMeasures): Record<(typeof CSV_COLUMNS)[number], string | number | boolean> {
  return {
    requests: m.requests,
    succeeded: m.succeeded,
    failed: m.failed,
    input_tokens: m.input_tokens,
    cached_input_tokens: m.cached_input_tokens,
    output_tokens: m.output_tokens,
    reasoning_tokens: m.reasoning_tokens,
    total_tokens: m.total_tokens,
    cost_usd: (Math.round(m.settled_cost_micros + m.estimated_cost_micros) / 1e6).toFixed(6),
    settled_cost_usd: (Math.round(m.settled_cost_micros) / 1e6).toFixed(6),
    estimated_cost_usd: (Math.round(m.estimated_cost_micros) / 1e6).toFixed(6),
    unpriced_requests: m.unpriced_requests,
    priced: m.priced,
  };
}

// JSON carries the costs as numbers (same 6-decimal rounding).
const jsonMeasures = (m: UsageMeasures) => {
  const e = exportMeasures(m);
  return { ...e, cost_usd: Number(e.cost_usd), settled_cost_usd: Number(e.settled_cost_usd), estimated_cost_usd: Number(e.estimated_cost_usd) };
};

/**
 * RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. Text that a
 * spreadsheet would run as a formula (labels and model names come from clients) gets a leading
 * apostrophe; numbers are left alone.
 */
export function csvField(value: string | number | boolean | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(by: ExportGroup, rows: readonly UsageReportRow[]): string {
  const header = [by, 'label', ...CSV_COLUMNS];
  const lines = [header.join(',')];
  for (const row of rows) {
    const measures = exportMeasures(row);
    lines.push([row.key, row.label, ...CSV_COLUMNS.map((c) => measures[c])].map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

export async function usageExport(db: Db, input: UsageExportInput): Promise<UsageExport> {
  if (!Object.hasOwn(EXPORT_GROUPS, input.by)) throw new PoolerError('invalid_request', `by must be one of ${Object.keys(EXPORT_GROUPS).join(', ')}`, { param: 'by' });
  if (input.format !== 'csv' && input.format !== 'json') throw new PoolerError('invalid_request', 'format must be csv or json', { param: 'format' });
  const report = await usageReport(db, { from: input.from, to: input.to, groupBy: EXPORT_GROUPS[input.by], poolIds: [input.pool.id], ...(input.now ? { now: input.now } : {}) });
  const stamp = (d: Date) => d.toISOString().slice(0, 19).replaceAll(':', '').replace('T', '-');
  const filename = `usage-${input.pool.slug}-${input.by}-${stamp(input.from)}-${stamp(input.to)}.${input.format}`;
  if (input.format === 'csv') return { contentType: 'text/csv; charset=utf-8', filename, body: toCsv(input.by, report.rows) };
  const body = {
    pool: { id: input.pool.id, slug: input.pool.slug },
    from: report.from.toISOString(),
    to: report.to.toISOString(),
    by: input.by,
    currency: 'USD',
    rows: report.rows.map((row) => ({ [input.by]: row.key, label: row.label, ...jsonMeasures(row) })),
    totals: jsonMeasures(report.totals),
  };
  return { contentType: 'application/json; charset=utf-8', filename, body: `${JSON.stringify(body, null, 2)}\n` };
}
