import { sql, type Kysely } from 'kysely';

// Frozen in time: this file never imports application code. PostgreSQL 15 compatible.
// Websocket session owners (routing spec A4.5, B6): with owner forwarding on, the web process that
// holds a session's live upstream websocket records itself and its internal address here under a
// short lease; other replicas forward the session's frames to it, and take the session over once the
// lease is stale or the owner cannot be reached. The bound account outlives the owner, so a session
// taken over (or reconnected) keeps its account. `session_id` is a SHA-256 digest, never a raw value.

export async function up(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `
CREATE TABLE websocket_session_owners (
  session_id text PRIMARY KEY CHECK (session_id ~ '^[0-9a-f]{64}$'),
  pool_id uuid NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  api_key_id uuid NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  pool_upstream_assignment_id uuid REFERENCES pool_upstream_assignments(id) ON DELETE SET NULL,
  owner_instance_id text NOT NULL CHECK (char_length(owner_instance_id) BETWEEN 1 AND 200),
  owner_address text NOT NULL CHECK (char_length(owner_address) BETWEEN 1 AND 300),
  owner_lease_token uuid NOT NULL,
  owner_lease_expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX websocket_session_owners_owner_idx ON websocket_session_owners (owner_instance_id);
CREATE INDEX websocket_session_owners_expiry_idx ON websocket_session_owners (owner_lease_expires_at);
`,
    )
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql.raw('DROP TABLE IF EXISTS websocket_session_owners').execute(db);
}
