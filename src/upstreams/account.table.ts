import type { Generated, Selectable } from 'kysely';

export type AccountStatus =
  | 'pending'
  | 'active'
  | 'paused'
  | 'refresh_due'
  | 'refreshing'
  | 'refresh_failed'
  | 'reauth_required'
  | 'deleted'
  | 'disabled'
  | 'errored';
export type HealthStatus = 'unknown' | 'active' | 'cooldown' | 'degraded' | 'disabled' | 'errored';
export type SecretKind = 'access_token' | 'refresh_token' | 'id_token' | 'device_code' | 'web_session' | 'api_key' | 'other';

export interface UpstreamIdentityTable {
  id: Generated<string>;
  chatgpt_account_id: string | null;
  chatgpt_user_id: string | null;
  account_email: string | null;
  account_label: string;
  workspace_id: string | null;
  workspace_label: string | null;
  seat_type: string | null;
  onboarding_method: 'browser' | 'device' | 'import' | 'invite';
  status: Generated<AccountStatus>;
  plan_family: string | null;
  plan_label: string | null;
  credential_provenance: string | null;
  auth_fresh_at: Date | null;
  auth_verified_at: Date | null;
  last_successful_refresh_at: Date | null;
  last_successful_sync_at: Date | null;
  access_token_expires_at: Date | null;
  credential_epoch: Generated<number>;
  disabled_at: Date | null;
  headers_profile_version: Generated<number>;
  created_by_user_id: string | null;
  metadata: Generated<Record<string, unknown>>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface PoolUpstreamAssignmentTable {
  id: Generated<string>;
  pool_id: string;
  upstream_identity_id: string;
  assignment_label: string | null;
  status: Generated<AccountStatus>;
  health_status: Generated<HealthStatus>;
  eligibility_status: Generated<'eligible' | 'ineligible'>;
  cooldown_until: Date | null;
  cooldown_reason: string | null;
  last_healthcheck_at: Date | null;
  last_successful_refresh_at: Date | null;
  last_successful_sync_at: Date | null;
  last_success_at: Date | null;
  disabled_at: Date | null;
  metadata: Generated<Record<string, unknown>>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface EncryptedSecretTable {
  id: Generated<string>;
  upstream_identity_id: string;
  secret_kind: SecretKind;
  key_version: string;
  ciphertext: Buffer;
  nonce: Buffer;
  aad: Record<string, string>;
  status: Generated<'active' | 'superseded' | 'revoked'>;
  superseded_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface AccountQuotaWindowTable {
  id: Generated<string>;
  upstream_identity_id: string;
  quota_key: Generated<string>;
  window_kind: 'primary' | 'secondary';
  window_minutes: number | null;
  active_limit: number | null;
  credits: string | null;
  reset_at: Date | null;
  used_percent: string | null;
  source_precision: Generated<'authoritative' | 'observed' | 'inferred' | 'unknown'>;
  quota_scope: Generated<'account' | 'model' | 'upstream_model' | 'feature'>;
  model: Generated<string>;
  source: string | null;
  freshness_state: Generated<'fresh' | 'stale' | 'unknown'>;
  observed_at: Generated<Date>;
  merge_precedence: Generated<number>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface ModelTable {
  id: Generated<string>;
  pool_id: string;
  upstream_model_id: string;
  exposed_model_id: string;
  display_name: string | null;
  status: Generated<'active' | 'stale' | 'retired' | 'suppressed'>;
  supports_responses: Generated<boolean>;
  supports_streaming: Generated<boolean>;
  supports_tools: Generated<boolean>;
  supports_reasoning: Generated<boolean>;
  pricing_ref: string | null;
  source_assignment_count: Generated<number>;
  first_seen_at: Generated<Date>;
  last_seen_at: Generated<Date>;
  stale_at: Date | null;
  retired_at: Date | null;
  suppressed_at: Date | null;
  metadata: Generated<Record<string, unknown>>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type UpstreamIdentityRow = Selectable<UpstreamIdentityTable>;
export type AssignmentRow = Selectable<PoolUpstreamAssignmentTable>;
export type QuotaWindowRow = Selectable<AccountQuotaWindowTable>;

export interface UpstreamTables {
  upstream_identities: UpstreamIdentityTable;
  pool_upstream_assignments: PoolUpstreamAssignmentTable;
  encrypted_secrets: EncryptedSecretTable;
  account_quota_windows: AccountQuotaWindowTable;
  models: ModelTable;
}
