import { sql, type Kysely } from 'kysely';

// Frozen in time: this file never imports application code. PostgreSQL 15 compatible.
// Operators and the admin API: login throttling, TOTP replay protection, indexes for the admin reads.

export async function up(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `
CREATE TABLE login_throttles (
  scope_kind text NOT NULL CHECK (scope_kind IN ('ip','account')),
  scope_key text NOT NULL CHECK (char_length(scope_key) BETWEEN 1 AND 200),
  failure_count integer NOT NULL DEFAULT 0 CHECK (failure_count >= 0),
  window_started_at timestamptz NOT NULL DEFAULT now(),
  locked_until timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope_kind, scope_key)
);
CREATE INDEX login_throttles_updated_idx ON login_throttles (updated_at);

ALTER TABLE totp_settings ADD COLUMN last_used_time_step bigint;

CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE status = 'active';
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id) WHERE status = 'active';
CREATE INDEX operator_pool_assignments_user_idx ON operator_pool_assignments (user_id) WHERE status = 'active';
CREATE INDEX audit_events_pool_time_idx ON audit_events (pool_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_action_time_idx ON audit_events (action, occurred_at DESC);
CREATE INDEX requests_created_idx ON requests (created_at);
`,
    )
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `DROP INDEX IF EXISTS requests_created_idx, audit_events_action_time_idx, audit_events_pool_time_idx,
        operator_pool_assignments_user_idx, recovery_codes_user_idx, sessions_user_idx;
       ALTER TABLE totp_settings DROP COLUMN IF EXISTS last_used_time_step;
       DROP TABLE IF EXISTS login_throttles;`,
    )
    .execute(db);
}
