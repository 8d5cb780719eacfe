import type { Generated, Insertable } from 'kysely';

export type RequestTransport = 'http_json' | 'http_compact_json' | 'http_sse' | 'websocket' | 'http_multipart';
export type RequestStatus = 'accepted' | 'in_progress' | 'succeeded' | 'failed' | 'rejected' | 'cancelled';
export type UsageStatus = 'usage_pending' | 'usage_known' | 'usage_unknown' | 'not_applicable';

export interface RequestTable {
  id: Generated<string>;
  pool_id: string | null;
  api_key_id: string | null;
  pool_upstream_assignment_id: string | null;
  upstream_identity_id: string | null;
  model_id: string | null;
  requested_model: string | null;
  endpoint: string;
  method: Generated<string>;
  transport: RequestTransport;
  status: RequestStatus;
  usage_status: Generated<UsageStatus>;
  correlation_id: string;
  client_ip: string | null;
  user_agent: string | null;
  request_metadata: Generated<Record<string, unknown>>;
  admitted_at: Date;
  completed_at: Date | null;
  response_status_code: number | null;
  retry_count: Generated<number>;
  last_error_code: string | null;
  latency_ms: number | null;
  time_to_first_byte_ms: number | null;
  input_tokens: number | null;
  cached_input_tokens: number | null;
  output_tokens: number | null;
  reasoning_tokens: number | null;
  total_tokens: number | null;
  upstream_account_label: string | null;
  upstream_account_email: string | null;
  upstream_plan: string | null;
  reasoning_effort: string | null;
  service_tier: string | null;
  requested_service_tier: string | null;
  actual_service_tier: string | null;
  routing_reason: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface AttemptTable {
  id: Generated<string>;
  request_id: string;
  attempt_number: number;
  pool_upstream_assignment_id: string | null;
  upstream_identity_id: string | null;
  model: string | null;
  transport: string | null;
  status: 'queued' | 'in_progress' | 'succeeded' | 'failed' | 'retryable_failed' | 'cancelled';
  started_at: Date;
  finished_at: Date | null;
  upstream_status_code: number | null;
  retryable: Generated<boolean>;
  network_error_code: string | null;
  error_code: string | null;
  error_message: string | null;
  latency_ms: number | null;
  usage_status: string | null;
  response_metadata: Generated<Record<string, unknown>>;
  created_at: Generated<Date>;
}

export type NewRequestRow = Insertable<RequestTable>;
export type NewAttemptRow = Insertable<AttemptTable>;

export interface RequestLogTables {
  requests: RequestTable;
  attempts: AttemptTable;
}
