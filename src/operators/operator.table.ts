import type { Generated } from 'kysely';

export interface UserTable {
  id: Generated<string>;
  email: string;
  display_name: string | null;
  password_hash: string;
  status: Generated<'active' | 'disabled'>;
  password_change_required: Generated<boolean>;
  datetime_format: Generated<string>;
  timezone: Generated<string>;
  failed_login_count: Generated<number>;
  locked_until: Date | null;
  last_login_at: Date | null;
  deleted_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface MembershipTable {
  id: Generated<string>;
  user_id: string;
  role: 'instance_owner' | 'instance_admin';
  status: Generated<'active' | 'revoked'>;
  created_by_user_id: string | null;
  revoked_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface SessionTable {
  id: Generated<string>;
  user_id: string;
  session_token_hash: Buffer;
  status: Generated<'active' | 'revoked' | 'expired'>;
  mfa_verified: Generated<boolean>;
  expires_at: Date;
  last_seen_at: Date | null;
  ip_address: string | null;
  user_agent: string | null;
  revoked_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface BootstrapStateTable {
  singleton: Generated<boolean>;
  status: 'pending' | 'completed' | 'locked';
  owner_user_id: string | null;
  completed_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface TotpSettingTable {
  id: Generated<string>;
  user_id: string;
  secret_ciphertext: Buffer;
  secret_nonce: Buffer;
  secret_key_version: string;
  recovery_generation: Generated<number>;
  status: Generated<'pending' | 'active' | 'disabled'>;
  enrolled_at: Date | null;
  verified_at: Date | null;
  disabled_at: Date | null;
  /** The last accepted RFC 6238 step: a code is never accepted twice. */
  last_used_time_step: string | number | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface RecoveryCodeTable {
  id: Generated<string>;
  user_id: string;
  totp_setting_id: string;
  code_hash: Buffer;
  status: Generated<'active' | 'used' | 'revoked'>;
  used_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface OperatorPoolAssignmentTable {
  id: Generated<string>;
  user_id: string;
  pool_id: string;
  status: Generated<'active' | 'revoked'>;
  created_by_user_id: string | null;
  revoked_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface LoginThrottleTable {
  scope_kind: 'ip' | 'account';
  scope_key: string;
  failure_count: Generated<number>;
  window_started_at: Generated<Date>;
  locked_until: Date | null;
  updated_at: Generated<Date>;
}

export type OperatorRole = MembershipTable['role'];

export interface OperatorTables {
  users: UserTable;
  memberships: MembershipTable;
  sessions: SessionTable;
  platform_bootstrap_state: BootstrapStateTable;
  totp_settings: TotpSettingTable;
  recovery_codes: RecoveryCodeTable;
  operator_pool_assignments: OperatorPoolAssignmentTable;
  login_throttles: LoginThrottleTable;
}
