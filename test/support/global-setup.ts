import type { TestProject } from 'vitest/node';
import { openDatabase, migrateToLatest } from '../../src/db/index.ts';
import { createScratchDatabase } from './database.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

/** One fresh, migrated PostgreSQL database per test run, dropped at the end. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const scratch = await createScratchDatabase('run');
  const handle = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 2, ipv6: false }, { onError: () => {} });
  try {
    await migrateToLatest(handle.db);
  } finally {
    await handle.close();
  }
  project.provide('databaseUrl', scratch.url);
  return async () => {
    await scratch.drop();
  };
}
