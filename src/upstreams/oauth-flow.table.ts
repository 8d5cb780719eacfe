import type { Generated, Selectable } from 'kysely';

export type OAuthFlowKind = 'browser' | 'device';
export type OAuthFlowPurpose = 'link' | 'relink';
export type OAuthFlowStatus = 'pending' | 'completed' | 'failed' | 'cancelled' | 'expired';
export type InviteStatus = 'active' | 'accepted' | 'revoked' | 'expired';

export interface UpstreamOAuthFlowTable {
  id: Generated<string>;
  pool_id: string;
  /** The relink target; null for a new link. */
  upstream_identity_id: string | null;
  /** Set when a Pool invite started the flow (hosted device-code onboarding). */
  invite_id: string | null;
  requested_by_user_id: string | null;
  flow_kind: OAuthFlowKind;
  purpose: OAuthFlowPurpose;
  status: Generated<OAuthFlowStatus>;
  state_token_hash: Buffer | null;
  redirect_uri: string | null;
  /** Transient OAuth envelopes (spec §3.1): JSON text, never the plaintext. */
  code_verifier_ciphertext: string | null;
  device_auth_id_ciphertext: string | null;
  device_user_code: string | null;
  verification_uri: string | null;
  interval_seconds: number | null;
  poll_after_at: Date | null;
  expires_at: Date;
  completed_at: Date | null;
  cancelled_at: Date | null;
  last_polled_at: Date | null;
  result_upstream_identity_id: string | null;
  error_code: string | null;
  error_message: string | null;
  metadata: Generated<Record<string, unknown>>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface InviteTable {
  id: Generated<string>;
  pool_id: string;
  token_hash: Buffer;
  invited_email: string;
  status: Generated<InviteStatus>;
  expires_at: Date;
  accepted_at: Date | null;
  email_sent_at: Date | null;
  revoked_at: Date | null;
  created_by_user_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface InviteAcceptanceTable {
  id: Generated<string>;
  invite_id: string;
  pool_id: string;
  upstream_identity_id: string | null;
  pool_upstream_assignment_id: string | null;
  onboarding_method: 'invite' | 'wizard' | 'browser' | 'device' | 'import';
  accepted_by_email: string;
  accepted_at: Generated<Date>;
  details: Generated<Record<string, unknown>>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type OAuthFlowRow = Selectable<UpstreamOAuthFlowTable>;
export type InviteRow = Selectable<InviteTable>;

export interface OAuthTables {
  upstream_oauth_flows: UpstreamOAuthFlowTable;
  invites: InviteTable;
  invite_acceptances: InviteAcceptanceTable;
}
