import { sql, type Kysely } from 'kysely';

// Frozen in time: this file never imports application code. PostgreSQL 15 compatible.
// Key-holder Observatory sessions (control-plane spec §2.4, §6.3): a key's holder signs in with the
// key; only a SHA-256 digest of the session token is stored. Requests-per-minute limits count the
// rolling 60 s (control-plane spec §6.2): each admission of a limited key is a row, claimed by one
// function call that locks the key, prunes rows older than the window and inserts only under the
// limit, so every web process enforces the limit exactly in one round trip.
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

CREATE TABLE api_key_admissions (
  api_key_id uuid NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  admitted_at timestamptz NOT NULL
);
CREATE INDEX api_key_admissions_key_idx ON api_key_admissions (api_key_id, admitted_at);

CREATE FUNCTION claim_api_key_request_slot(p_key uuid, p_max integer)
RETURNS TABLE (admitted boolean, in_window integer, oldest timestamptz, checked_at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('api_key_admissions:' || p_key::text, 0));
  checked_at := clock_timestamp();
  DELETE FROM api_key_admissions a WHERE a.api_key_id = p_key AND a.admitted_at <= checked_at - interval '60 seconds';
  SELECT count(*)::integer, min(a.admitted_at) INTO in_window, oldest FROM api_key_admissions a WHERE a.api_key_id = p_key;
  admitted := in_window < p_max;
  IF admitted THEN
    INSERT INTO api_key_admissions (api_key_id, admitted_at) VALUES (p_key, checked_at);
    in_window := in_window + 1;
    oldest := coalesce(oldest, checked_at);
  END IF;
  RETURN NEXT;
END
$$;

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
DROP FUNCTION IF EXISTS claim_api_key_request_slot(uuid, integer);
DROP TABLE IF EXISTS api_key_admissions;
DROP TABLE IF EXISTS api_key_dashboard_sessions;
`,
    )
    .execute(db);
}
