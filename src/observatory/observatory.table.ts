import type { Generated } from 'kysely';

/** A key holder's Observatory session; the token is stored only as its SHA-256 digest. */
export interface ApiKeyDashboardSessionTable {
  id: Generated<string>;
  api_key_id: string;
  token_hash: Buffer;
  expires_at: Date;
  inserted_at: Generated<Date>;
}

export interface ObservatoryTables {
  api_key_dashboard_sessions: ApiKeyDashboardSessionTable;
}
