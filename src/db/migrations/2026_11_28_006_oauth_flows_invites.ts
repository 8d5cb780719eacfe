import { sql, type Kysely } from 'kysely';

// Frozen in time: this file never imports application code. PostgreSQL 15 compatible.
// Upstream account sign-in (control-plane spec §2.3, §5.3, §5.4): pending OAuth flows (browser PKCE
// and device code, for a link or a relink), Pool invites and their acceptances. Tokens never land
// here: a flow keeps only the SHA-256 of its state and the encrypted PKCE verifier / device id.

export async function up(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `
CREATE TABLE invites (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  pool_id uuid NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  invited_email text NOT NULL CHECK (invited_email = lower(invited_email) AND invited_email ~ '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$'),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','accepted','revoked','expired')),
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  email_sent_at timestamptz,
  revoked_at timestamptz,
  created_by_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX invites_active_pool_email_idx ON invites (pool_id, invited_email) WHERE status = 'active';
CREATE INDEX invites_pool_created_idx ON invites (pool_id, created_at DESC);

CREATE TABLE invite_acceptances (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  invite_id uuid NOT NULL UNIQUE REFERENCES invites(id) ON DELETE CASCADE,
  pool_id uuid NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  upstream_identity_id uuid REFERENCES upstream_identities(id) ON DELETE SET NULL,
  pool_upstream_assignment_id uuid REFERENCES pool_upstream_assignments(id) ON DELETE SET NULL,
  onboarding_method text NOT NULL CHECK (onboarding_method IN ('invite','wizard','browser','device','import')),
  accepted_by_email text NOT NULL,
  accepted_at timestamptz NOT NULL DEFAULT now(),
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE upstream_oauth_flows (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  pool_id uuid NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  upstream_identity_id uuid REFERENCES upstream_identities(id) ON DELETE CASCADE,
  invite_id uuid REFERENCES invites(id) ON DELETE CASCADE,
  requested_by_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  flow_kind text NOT NULL CHECK (flow_kind IN ('browser','device')),
  purpose text NOT NULL CHECK (purpose IN ('link','relink')),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','completed','failed','cancelled','expired')),
  state_token_hash bytea UNIQUE CHECK (state_token_hash IS NULL OR octet_length(state_token_hash) = 32),
  redirect_uri text,
  code_verifier_ciphertext text,
  device_auth_id_ciphertext text,
  device_user_code text,
  verification_uri text,
  interval_seconds integer CHECK (interval_seconds IS NULL OR interval_seconds > 0),
  poll_after_at timestamptz,
  expires_at timestamptz NOT NULL,
  completed_at timestamptz,
  cancelled_at timestamptz,
  last_polled_at timestamptz,
  result_upstream_identity_id uuid REFERENCES upstream_identities(id) ON DELETE SET NULL,
  error_code text,
  error_message text,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (flow_kind <> 'browser' OR (state_token_hash IS NOT NULL AND code_verifier_ciphertext IS NOT NULL)),
  CHECK (flow_kind <> 'device' OR device_auth_id_ciphertext IS NOT NULL),
  CHECK (purpose <> 'relink' OR upstream_identity_id IS NOT NULL)
);
CREATE INDEX upstream_oauth_flows_pending_idx ON upstream_oauth_flows (pool_id, purpose, upstream_identity_id) WHERE status = 'pending';
CREATE INDEX upstream_oauth_flows_finished_idx ON upstream_oauth_flows (updated_at) WHERE status <> 'pending';
`,
    )
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql.raw('DROP TABLE IF EXISTS upstream_oauth_flows, invite_acceptances, invites').execute(db);
}
