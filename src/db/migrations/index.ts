import type { Migration, MigrationProvider } from 'kysely/migration';
import * as initialSchema from './2026_11_27_001_initial_schema.ts';
import * as operators from './2026_11_27_002_operators.ts';
import * as rollupCoverage from './2026_11_27_003_rollup_coverage.ts';

// Static list: migrations run from the installed package, never discovered from the filesystem.
const MIGRATIONS: Record<string, Migration> = {
  '2026_11_27_001_initial_schema': initialSchema,
  '2026_11_27_002_operators': operators,
  '2026_11_27_003_rollup_coverage': rollupCoverage,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return MIGRATIONS;
  },
};

export const LATEST_MIGRATION = Object.keys(MIGRATIONS).sort().at(-1)!;
