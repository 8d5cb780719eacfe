import { sql, type Kysely } from 'kysely';

// Frozen in time: this file never imports application code. PostgreSQL 15 compatible.
// Enumerations are text + CHECK; ids are uuid from gen_random_uuid() (core since PG 13).

const STATUS_VOCABULARY = `'pending','active','paused','refresh_due','refreshing','refresh_failed','reauth_required','deleted','disabled','errored'`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL CHECK (char_length(email) <= 160 AND email ~ '^[^\\s]+@[^\\s]+$'),
  display_name text CHECK (char_length(display_name) <= 160),
  password_hash text NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','disabled')),
  password_change_required boolean NOT NULL DEFAULT false,
  datetime_format text NOT NULL DEFAULT 'default' CHECK (datetime_format IN ('default','short','long','iso8601')),
  timezone text NOT NULL DEFAULT 'Etc/UTC',
  failed_login_count integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  last_login_at timestamptz,
  deleted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_live_idx ON users (lower(email)) WHERE deleted_at IS NULL;

CREATE TABLE memberships (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('instance_owner','instance_admin')),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','revoked')),
  created_by_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX memberships_active_role_idx ON memberships (user_id, role) WHERE status = 'active';

CREATE TABLE sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  session_token_hash bytea NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','revoked','expired')),
  mfa_verified boolean NOT NULL DEFAULT false,
  expires_at timestamptz NOT NULL,
  last_seen_at timestamptz,
  ip_address inet,
  user_agent text,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE totp_settings (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
  secret_ciphertext bytea NOT NULL,
  secret_nonce bytea NOT NULL,
  secret_key_version text NOT NULL,
  recovery_generation integer NOT NULL DEFAULT 1,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','active','disabled')),
  enrolled_at timestamptz,
  verified_at timestamptz,
  disabled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE recovery_codes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  totp_setting_id uuid NOT NULL REFERENCES totp_settings(id) ON DELETE CASCADE,
  code_hash bytea NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','used','revoked')),
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE platform_bootstrap_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','completed','locked')),
  owner_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  completed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (status <> 'completed' OR completed_at IS NOT NULL)
);
INSERT INTO platform_bootstrap_state (singleton, status) VALUES (true, 'pending');

CREATE TABLE pools (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug text NOT NULL CHECK (slug ~ '^[a-z0-9]+(?:[a-z0-9-]*[a-z0-9])?$'),
  name text NOT NULL CHECK (char_length(btrim(name)) > 0 AND char_length(name) <= 160),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','disabled','archived')),
  created_by_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  disabled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX pools_slug_idx ON pools (lower(slug));

CREATE TABLE operator_pool_assignments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  pool_id uuid NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','revoked')),
  created_by_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX operator_pool_assignments_active_idx ON operator_pool_assignments (user_id, pool_id) WHERE status = 'active';

CREATE TABLE pool_routing_settings (
  pool_id uuid PRIMARY KEY REFERENCES pools(id) ON DELETE CASCADE,
  routing_strategy text NOT NULL DEFAULT 'bridge_ring' CHECK (routing_strategy IN ('bridge_ring','deterministic_rotation','least_recent_success','quota_first')),
  bridge_ring_size integer NOT NULL DEFAULT 3 CHECK (bridge_ring_size >= 1),
  sticky_websocket_sessions boolean NOT NULL DEFAULT true,
  sticky_http_sessions boolean NOT NULL DEFAULT false,
  prompt_cache_affinity_enabled boolean NOT NULL DEFAULT true,
  v1_compatibility_enabled boolean NOT NULL DEFAULT true,
  request_compression_enabled boolean NOT NULL DEFAULT false,
  allow_image_generation boolean NOT NULL DEFAULT true,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE models (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  pool_id uuid NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  upstream_model_id text NOT NULL,
  exposed_model_id text NOT NULL CHECK (exposed_model_id = lower(btrim(exposed_model_id)) AND char_length(exposed_model_id) BETWEEN 1 AND 255),
  display_name text,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','stale','retired','suppressed')),
  supports_responses boolean NOT NULL DEFAULT true,
  supports_streaming boolean NOT NULL DEFAULT true,
  supports_tools boolean NOT NULL DEFAULT true,
  supports_reasoning boolean NOT NULL DEFAULT true,
  pricing_ref text,
  source_assignment_count integer NOT NULL DEFAULT 0,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  stale_at timestamptz,
  retired_at timestamptz,
  suppressed_at timestamptz,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX models_pool_exposed_idx ON models (pool_id, exposed_model_id);

CREATE TABLE upstream_identities (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  chatgpt_account_id text,
  chatgpt_user_id text,
  account_email text,
  account_label text NOT NULL,
  workspace_id text,
  workspace_label text,
  seat_type text,
  onboarding_method text NOT NULL CHECK (onboarding_method IN ('browser','device','import','invite')),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN (${STATUS_VOCABULARY})),
  plan_family text CHECK (plan_family ~ '^[a-z0-9]+(?:-[a-z0-9]+)*$'),
  plan_label text,
  credential_provenance text CHECK (credential_provenance IS NULL OR credential_provenance = 'codex_chatgpt_oauth'),
  auth_fresh_at timestamptz,
  auth_verified_at timestamptz,
  last_successful_refresh_at timestamptz,
  last_successful_sync_at timestamptz,
  access_token_expires_at timestamptz,
  credential_epoch integer NOT NULL DEFAULT 1,
  disabled_at timestamptz,
  headers_profile_version integer NOT NULL DEFAULT 1,
  created_by_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX upstream_identities_ws_subject_idx ON upstream_identities (chatgpt_account_id, workspace_id, chatgpt_user_id)
  WHERE chatgpt_account_id IS NOT NULL AND workspace_id IS NOT NULL AND chatgpt_user_id IS NOT NULL AND status <> 'deleted';
CREATE UNIQUE INDEX upstream_identities_ws_idx ON upstream_identities (chatgpt_account_id, workspace_id)
  WHERE chatgpt_account_id IS NOT NULL AND workspace_id IS NOT NULL AND chatgpt_user_id IS NULL AND status <> 'deleted';
CREATE UNIQUE INDEX upstream_identities_subject_idx ON upstream_identities (chatgpt_account_id, chatgpt_user_id)
  WHERE chatgpt_account_id IS NOT NULL AND workspace_id IS NULL AND chatgpt_user_id IS NOT NULL AND status <> 'deleted';
CREATE UNIQUE INDEX upstream_identities_account_idx ON upstream_identities (chatgpt_account_id)
  WHERE chatgpt_account_id IS NOT NULL AND workspace_id IS NULL AND chatgpt_user_id IS NULL AND status <> 'deleted';

CREATE TABLE pool_upstream_assignments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  pool_id uuid NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  upstream_identity_id uuid NOT NULL REFERENCES upstream_identities(id) ON DELETE CASCADE,
  assignment_label text,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN (${STATUS_VOCABULARY})),
  health_status text NOT NULL DEFAULT 'unknown' CHECK (health_status IN ('unknown','active','cooldown','degraded','disabled','errored')),
  eligibility_status text NOT NULL DEFAULT 'eligible' CHECK (eligibility_status IN ('eligible','ineligible')),
  cooldown_until timestamptz,
  cooldown_reason text,
  last_healthcheck_at timestamptz,
  last_successful_refresh_at timestamptz,
  last_successful_sync_at timestamptz,
  last_success_at timestamptz,
  disabled_at timestamptz,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (pool_id, upstream_identity_id)
);

CREATE TABLE encrypted_secrets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  upstream_identity_id uuid NOT NULL REFERENCES upstream_identities(id) ON DELETE CASCADE,
  secret_kind text NOT NULL CHECK (secret_kind IN ('access_token','refresh_token','id_token','device_code','web_session','api_key','other')),
  key_version text NOT NULL,
  ciphertext bytea NOT NULL,
  nonce bytea NOT NULL,
  aad jsonb NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','superseded','revoked')),
  superseded_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX encrypted_secrets_active_idx ON encrypted_secrets (upstream_identity_id, secret_kind) WHERE status = 'active';

CREATE TABLE account_quota_windows (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  upstream_identity_id uuid NOT NULL REFERENCES upstream_identities(id) ON DELETE CASCADE,
  quota_key text NOT NULL DEFAULT 'account',
  window_kind text NOT NULL CHECK (window_kind IN ('primary','secondary')),
  window_minutes integer,
  active_limit integer,
  credits numeric,
  reset_at timestamptz,
  used_percent numeric(6,3) CHECK (used_percent IS NULL OR (used_percent >= 0 AND used_percent <= 100)),
  source_precision text NOT NULL DEFAULT 'observed' CHECK (source_precision IN ('authoritative','observed','inferred','unknown')),
  quota_scope text NOT NULL DEFAULT 'account' CHECK (quota_scope IN ('account','model','upstream_model','feature')),
  model text NOT NULL DEFAULT '',
  source text,
  freshness_state text NOT NULL DEFAULT 'fresh' CHECK (freshness_state IN ('fresh','stale','unknown')),
  observed_at timestamptz NOT NULL DEFAULT now(),
  merge_precedence integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (upstream_identity_id, quota_key, window_kind, model)
);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  pool_id uuid NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  display_name text,
  key_prefix text NOT NULL UNIQUE CHECK (key_prefix ~ '^sk-cxp-[0-9a-f]{12}$'),
  key_hash bytea NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','paused','revoked')),
  runtime_revocation_epoch bigint NOT NULL DEFAULT 0,
  dashboard_access boolean NOT NULL DEFAULT false,
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz,
  allowed_model_identifiers text[],
  enforced_model_identifier text,
  enforced_reasoning_effort text CHECK (enforced_reasoning_effort IN ('none','minimal','low','medium','high','xhigh','max','ultra')),
  maximum_reasoning_effort text CHECK (maximum_reasoning_effort IN ('none','minimal','low','medium','high','xhigh','max','ultra')),
  enforced_service_tier text CHECK (enforced_service_tier IN ('auto','default','flex','priority','scale')),
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_by_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (enforced_reasoning_effort IS NULL OR maximum_reasoning_effort IS NULL)
);
CREATE INDEX api_keys_pool_idx ON api_keys (pool_id);

CREATE TABLE api_key_policy_bindings (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  api_key_id uuid NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  binding_scope text NOT NULL CHECK (binding_scope IN ('default','model')),
  model_identifier text,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','disabled')),
  max_requests_per_minute integer CHECK (max_requests_per_minute > 0),
  max_tokens_per_day bigint CHECK (max_tokens_per_day > 0),
  max_tokens_per_week bigint CHECK (max_tokens_per_week > 0),
  max_input_tokens_per_request bigint CHECK (max_input_tokens_per_request > 0),
  max_output_tokens_per_request bigint CHECK (max_output_tokens_per_request > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((binding_scope = 'default') = (model_identifier IS NULL))
);
CREATE UNIQUE INDEX api_key_policy_default_idx ON api_key_policy_bindings (api_key_id) WHERE status = 'active' AND binding_scope = 'default';
CREATE UNIQUE INDEX api_key_policy_model_idx ON api_key_policy_bindings (api_key_id, lower(model_identifier)) WHERE status = 'active' AND binding_scope = 'model';

CREATE TABLE requests (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  pool_id uuid REFERENCES pools(id) ON DELETE CASCADE,
  api_key_id uuid REFERENCES api_keys(id) ON DELETE CASCADE,
  pool_upstream_assignment_id uuid REFERENCES pool_upstream_assignments(id) ON DELETE SET NULL,
  upstream_identity_id uuid REFERENCES upstream_identities(id) ON DELETE SET NULL,
  model_id text,
  requested_model text,
  endpoint text NOT NULL,
  method text NOT NULL DEFAULT 'POST',
  transport text NOT NULL CHECK (transport IN ('http_json','http_compact_json','http_sse','websocket','http_multipart')),
  status text NOT NULL CHECK (status IN ('accepted','in_progress','succeeded','failed','rejected','cancelled')),
  usage_status text NOT NULL DEFAULT 'not_applicable' CHECK (usage_status IN ('usage_pending','usage_known','usage_unknown','not_applicable')),
  correlation_id text NOT NULL UNIQUE,
  client_ip text,
  user_agent text,
  request_metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  admitted_at timestamptz NOT NULL,
  completed_at timestamptz,
  response_status_code integer,
  retry_count integer NOT NULL DEFAULT 0,
  last_error_code text,
  latency_ms integer,
  time_to_first_byte_ms integer,
  input_tokens bigint,
  cached_input_tokens bigint,
  output_tokens bigint,
  reasoning_tokens bigint,
  total_tokens bigint,
  upstream_account_label text,
  upstream_account_email text,
  upstream_plan text,
  reasoning_effort text,
  service_tier text,
  requested_service_tier text,
  actual_service_tier text,
  routing_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX requests_pool_time_idx ON requests (pool_id, admitted_at DESC);
CREATE INDEX requests_key_time_idx ON requests (api_key_id, admitted_at DESC);
CREATE INDEX requests_time_idx ON requests (admitted_at DESC);

CREATE TABLE attempts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  request_id uuid NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
  attempt_number integer NOT NULL,
  pool_upstream_assignment_id uuid REFERENCES pool_upstream_assignments(id) ON DELETE SET NULL,
  upstream_identity_id uuid REFERENCES upstream_identities(id) ON DELETE SET NULL,
  model text,
  transport text,
  status text NOT NULL CHECK (status IN ('queued','in_progress','succeeded','failed','retryable_failed','cancelled')),
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  upstream_status_code integer,
  retryable boolean NOT NULL DEFAULT false,
  network_error_code text,
  error_code text,
  error_message text,
  latency_ms integer,
  usage_status text,
  response_metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (request_id, attempt_number)
);

CREATE TABLE pricing_snapshots (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  model_identifier text NOT NULL,
  price_version text NOT NULL,
  currency_code text NOT NULL DEFAULT 'USD',
  billing_unit text NOT NULL DEFAULT 'token' CHECK (billing_unit IN ('token','request','minute')),
  service_tier text NOT NULL DEFAULT 'default',
  price_bucket text NOT NULL DEFAULT 'standard',
  revision integer NOT NULL DEFAULT 1,
  input_token_micros numeric CHECK (input_token_micros >= 0),
  cached_input_token_micros numeric CHECK (cached_input_token_micros >= 0),
  cache_write_token_micros numeric CHECK (cache_write_token_micros >= 0),
  output_token_micros numeric CHECK (output_token_micros >= 0),
  reasoning_token_micros numeric CHECK (reasoning_token_micros >= 0),
  request_base_micros numeric CHECK (request_base_micros >= 0),
  effective_at timestamptz,
  source_url text,
  captured_at timestamptz NOT NULL DEFAULT now(),
  config jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX pricing_snapshots_identity_idx ON pricing_snapshots (lower(model_identifier), price_version, service_tier, price_bucket, revision);

CREATE TABLE ledger_entries (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  request_id uuid REFERENCES requests(id) ON DELETE CASCADE,
  attempt_id uuid REFERENCES attempts(id) ON DELETE SET NULL,
  pricing_snapshot_id uuid REFERENCES pricing_snapshots(id) ON DELETE SET NULL,
  pool_id uuid REFERENCES pools(id) ON DELETE CASCADE,
  api_key_id uuid REFERENCES api_keys(id) ON DELETE CASCADE,
  pool_upstream_assignment_id uuid REFERENCES pool_upstream_assignments(id) ON DELETE SET NULL,
  upstream_identity_id uuid REFERENCES upstream_identities(id) ON DELETE SET NULL,
  model text,
  entry_kind text NOT NULL CHECK (entry_kind IN ('reservation','release','settlement','adjustment','correction')),
  amount_status text NOT NULL DEFAULT 'recorded' CHECK (amount_status IN ('recorded','voided')),
  usage_status text,
  transport text,
  currency_code text NOT NULL DEFAULT 'USD',
  input_tokens bigint NOT NULL DEFAULT 0,
  cached_input_tokens bigint NOT NULL DEFAULT 0,
  cache_write_tokens bigint NOT NULL DEFAULT 0,
  output_tokens bigint NOT NULL DEFAULT 0,
  reasoning_tokens bigint NOT NULL DEFAULT 0,
  total_tokens bigint NOT NULL DEFAULT 0,
  request_count integer NOT NULL DEFAULT 0,
  estimated_cost_micros numeric(30,9),
  settled_cost_micros numeric(30,9),
  correction_of_entry_id uuid REFERENCES ledger_entries(id) ON DELETE SET NULL,
  source_event_id text NOT NULL UNIQUE,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_key_time_idx ON ledger_entries (api_key_id, occurred_at);

CREATE TABLE daily_rollups (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  rollup_date date NOT NULL,
  dimension_kind text NOT NULL CHECK (dimension_kind IN ('pool','api_key','pool_upstream_assignment','upstream_identity','model')),
  pool_id uuid NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  dimension_id text NOT NULL,
  request_count bigint NOT NULL DEFAULT 0,
  admitted_request_count bigint NOT NULL DEFAULT 0,
  success_count bigint NOT NULL DEFAULT 0,
  failure_count bigint NOT NULL DEFAULT 0,
  retry_count bigint NOT NULL DEFAULT 0,
  input_tokens bigint NOT NULL DEFAULT 0,
  cached_input_tokens bigint NOT NULL DEFAULT 0,
  output_tokens bigint NOT NULL DEFAULT 0,
  reasoning_tokens bigint NOT NULL DEFAULT 0,
  total_tokens bigint NOT NULL DEFAULT 0,
  estimated_cost_micros numeric(30,9) NOT NULL DEFAULT 0,
  settled_cost_micros numeric(30,9) NOT NULL DEFAULT 0,
  rounded_settled_cost_micros bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (rollup_date, dimension_kind, pool_id, dimension_id)
);

CREATE TABLE daily_rollup_coverages (
  rollup_date date PRIMARY KEY,
  contract_version integer NOT NULL DEFAULT 2,
  completed_at timestamptz,
  mutation_version bigint NOT NULL DEFAULT 0
);

CREATE TABLE api_key_usage_buckets (
  api_key_id uuid NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
  minute timestamptz NOT NULL,
  request_count bigint NOT NULL DEFAULT 0,
  total_tokens bigint NOT NULL DEFAULT 0,
  cost_micros numeric(30,9) NOT NULL DEFAULT 0,
  PRIMARY KEY (api_key_id, minute)
);

CREATE TABLE audit_events (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  occurred_at timestamptz NOT NULL DEFAULT now(),
  actor_type text NOT NULL CHECK (actor_type IN ('user','system')),
  actor_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  actor_label text,
  pool_id uuid REFERENCES pools(id) ON DELETE SET NULL,
  request_id uuid,
  action text NOT NULL,
  target_type text,
  target_id text,
  outcome text NOT NULL DEFAULT 'success' CHECK (outcome IN ('success','failure')),
  correlation_id text,
  ip_address text,
  details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at DESC);

CREATE TABLE instance_settings (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  lock_version integer NOT NULL DEFAULT 1,
  updated_by_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
`,
    )
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `DROP TABLE IF EXISTS instance_settings, audit_events, api_key_usage_buckets, daily_rollup_coverages, daily_rollups,
        ledger_entries, pricing_snapshots, attempts, requests, api_key_policy_bindings, api_keys, account_quota_windows,
        encrypted_secrets, pool_upstream_assignments, upstream_identities, models, pool_routing_settings,
        operator_pool_assignments, pools, platform_bootstrap_state, recovery_codes, totp_settings, sessions, memberships, users CASCADE`,
    )
    .execute(db);
}
