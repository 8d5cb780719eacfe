import { sql, type Kysely } from 'kysely';

// Frozen in time: this file never imports application code. PostgreSQL 15 compatible.
// Key-holder Observatory sessions (control-plane spec §2.4, §6.3): a key's holder signs in with the
// key; only a SHA-256 digest of the session token is stored. Key admissions per minute are counted
// atomically (admitted_count) so every web process enforces a requests-per-minute limit exactly.
// Stale reservations are found by time (cleanup job), hence the partial index.

export async function up(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `
CREATE TABLE api_key_dashboard_sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  api_key_id uuid NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  expires_at timestamptz NOT NULL,
  inserted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_key_dashboard_sessions_key_idx ON api_key_dashboard_sessions (api_key_id, inserted_at);

ALTER TABLE api_key_usage_buckets ADD COLUMN admitted_count bigint NOT NULL DEFAULT 0;

CREATE INDEX ledger_entries_open_reservation_idx ON ledger_entries (occurred_at) WHERE entry_kind = 'reservation';
`,
    )
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `
DROP INDEX IF EXISTS ledger_entries_open_reservation_idx;
ALTER TABLE api_key_usage_buckets DROP COLUMN IF EXISTS admitted_count;
DROP TABLE IF EXISTS api_key_dashboard_sessions;
`,
    )
    .execute(db);
}
