import type { Migration, MigrationProvider } from 'kysely/migration';
import * as initialSchema from './2026_11_27_001_initial_schema.ts';
import * as operators from './2026_11_27_002_operators.ts';
import * as rollupCoverage from './2026_11_27_003_rollup_coverage.ts';
import * as websocketSessionOwners from './2026_11_28_004_websocket_session_owners.ts';
import * as v1FileObjects from './2026_11_28_005_v1_file_objects.ts';
import * as oauthFlowsInvites from './2026_11_28_006_oauth_flows_invites.ts';
import * as observatory from './2026_11_28_007_observatory.ts';

// Static list: migrations run from the installed package, never discovered from the filesystem.
const MIGRATIONS: Record<string, Migration> = {
  '2026_11_27_001_initial_schema': initialSchema,
  '2026_11_27_002_operators': operators,
  '2026_11_27_003_rollup_coverage': rollupCoverage,
  '2026_11_28_004_websocket_session_owners': websocketSessionOwners,
  '2026_11_28_005_v1_file_objects': v1FileObjects,
  '2026_11_28_006_oauth_flows_invites': oauthFlowsInvites,
  '2026_11_28_007_observatory': observatory,
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return MIGRATIONS;
  },
};

export const LATEST_MIGRATION = Object.keys(MIGRATIONS).sort().at(-1)!;
