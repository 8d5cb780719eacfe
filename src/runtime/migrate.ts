import type { Logger } from 'pino';
import { importPricingFeed, loadVendoredPricingFeed, type PricingImportResult } from '../accounting/index.ts';
import { loadConfig } from '../config/index.ts';
import { migrateToLatest, openDatabase, type Db, type MigrationReport } from '../db/index.ts';
import { roleLogger } from './logging.ts';

export type MigrateResult = { migrations: MigrationReport; pricing: PricingImportResult };

/** The migrations role: apply pending migrations, then import the pricing feed vendored in the package. */
export async function migrateAndImportPricing(db: Db, log: Logger, now = new Date()): Promise<MigrateResult> {
  const migrations = await migrateToLatest(db);
  log.info({ applied: migrations.applied, current: migrations.current }, migrations.applied.length > 0 ? 'applied database migrations' : 'database schema is up to date');
  const feed = await loadVendoredPricingFeed();
  const pricing = await importPricingFeed(db, feed, { sourceUrl: null, now });
  log.info(
    { inserted: pricing.inserted, updated: pricing.updated, unchanged: pricing.unchanged, total: pricing.total, price_version: pricing.priceVersion },
    'imported the vendored pricing feed',
  );
  return { migrations, pricing };
}

export function describeMigration(result: MigrateResult): string {
  const { migrations, pricing } = result;
  return (
    `migrations: ${migrations.applied.length} applied, current ${migrations.current ?? 'none'}\n` +
    `pricing: ${pricing.inserted} inserted, ${pricing.updated} updated, ${pricing.unchanged} unchanged (${pricing.total} prices, version ${pricing.priceVersion})\n`
  );
}

/** `codex-pooler migrate`: runs to completion and answers the summary to print. */
export async function runMigrations(env: NodeJS.ProcessEnv): Promise<string> {
  const log = roleLogger(env, 'migrate');
  const config = await loadConfig(env, (message) => log.info(message));
  const handle = await openDatabase(config.database, { onError: (error) => log.error({ err: error }, 'database connection error') });
  try {
    return describeMigration(await migrateAndImportPricing(handle.db, log));
  } finally {
    await handle.close();
  }
}
