import { ConfigError } from '../config/index.ts';
import type { JobDefinition } from '../jobs/index.ts';

export const CRON_OVERRIDES_VARIABLE = 'CODEX_POOLER_CRON_OVERRIDES';

/**
 * `CODEX_POOLER_CRON_OVERRIDES='{"prune-expired-sessions":"*\/5 * * * *"}'` replaces the schedule
 * of named jobs on the scheduler role: a cron expression (UTC) or an RRULE such as
 * `FREQ=SECONDLY;INTERVAL=5`. Unknown job names are an error, so a typo never goes unnoticed.
 */
export function parseCronOverrides(raw: string | undefined, definitions: readonly JobDefinition[]): Record<string, string> | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(CRON_OVERRIDES_VARIABLE, 'must be a JSON object mapping job names to cron expressions');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(CRON_OVERRIDES_VARIABLE, 'must be a JSON object mapping job names to cron expressions');
  }
  const known = new Set(definitions.map((d) => d.name));
  const overrides: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (!known.has(name)) throw new ConfigError(CRON_OVERRIDES_VARIABLE, `unknown job ${JSON.stringify(name)} (known: ${[...known].join(', ')})`);
    if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(CRON_OVERRIDES_VARIABLE, `the schedule of ${name} must be a non-empty string`);
    overrides[name] = value.trim();
  }
  return overrides;
}
