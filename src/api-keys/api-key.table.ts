import type { Generated, Selectable } from 'kysely';

export type ApiKeyStatus = 'active' | 'paused' | 'revoked';

export interface ApiKeyTable {
  id: Generated<string>;
  pool_id: string;
  display_name: string | null;
  key_prefix: string;
  key_hash: Buffer;
  status: Generated<ApiKeyStatus>;
  runtime_revocation_epoch: Generated<number>;
  dashboard_access: Generated<boolean>;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  allowed_model_identifiers: string[] | null;
  enforced_model_identifier: string | null;
  enforced_reasoning_effort: string | null;
  maximum_reasoning_effort: string | null;
  enforced_service_tier: string | null;
  metadata: Generated<Record<string, unknown>>;
  created_by_user_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface ApiKeyPolicyBindingTable {
  id: Generated<string>;
  api_key_id: string;
  binding_scope: 'default' | 'model';
  model_identifier: string | null;
  status: Generated<'active' | 'disabled'>;
  max_requests_per_minute: number | null;
  max_tokens_per_day: number | null;
  max_tokens_per_week: number | null;
  max_input_tokens_per_request: number | null;
  max_output_tokens_per_request: number | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type ApiKeyRow = Selectable<ApiKeyTable>;

export interface ApiKeyTables {
  api_keys: ApiKeyTable;
  api_key_policy_bindings: ApiKeyPolicyBindingTable;
}
