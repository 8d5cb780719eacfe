import { sql, type Kysely } from 'kysely';

// Frozen in time: this file never imports application code. PostgreSQL 15 compatible.
// Files a Pool API key uploaded through `POST /v1/files` (runtime spec §1.4): the gateway keeps the
// OpenAI file object (metadata only, never the bytes) so the key can list and retrieve it, and the
// account that holds the bytes upstream (file affinity, spec §10.1).

export async function up(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `
CREATE TABLE file_objects (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  file_id text NOT NULL,
  pool_id uuid NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  api_key_id uuid NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  pool_upstream_assignment_id uuid REFERENCES pool_upstream_assignments(id) ON DELETE SET NULL,
  filename text NOT NULL,
  purpose text NOT NULL,
  bytes bigint NOT NULL CHECK (bytes >= 0),
  status text NOT NULL DEFAULT 'processed' CHECK (status IN ('uploaded','processed','error')),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX file_objects_key_file_idx ON file_objects (api_key_id, file_id);
CREATE INDEX file_objects_key_time_idx ON file_objects (api_key_id, created_at DESC);
`,
    )
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE IF EXISTS file_objects`.execute(db);
}
