import type { TestProject } from 'vitest/node';
import pino from 'pino';
import { openDatabase } from '../../src/db/index.ts';
import { migrateAndImportPricing } from '../../src/runtime/migrate.ts';
import { createScratchDatabase } from './database.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

/** One fresh, migrated PostgreSQL database (with the vendored prices) per test run, dropped at the end. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const scratch = await createScratchDatabase('run');
  const handle = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 2, ipv6: false }, { onError: () => {} });
  try {
    // What `codex-pooler migrate` does: the schema, then the vendored pricing feed.
    await migrateAndImportPricing(handle.db, pino({ level: 'silent' }));
  } finally {
    await handle.close();
  }
  project.provide('databaseUrl', scratch.url);
  return async () => {
    await scratch.drop();
  };
}
