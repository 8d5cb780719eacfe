import type { Generated, Insertable } from 'kysely';

export interface LedgerEntryTable {
  id: Generated<string>;
  request_id: string | null;
  attempt_id: string | null;
  pricing_snapshot_id: string | null;
  pool_id: string | null;
  api_key_id: string | null;
  pool_upstream_assignment_id: string | null;
  upstream_identity_id: string | null;
  model: string | null;
  entry_kind: 'reservation' | 'release' | 'settlement' | 'adjustment' | 'correction';
  amount_status: Generated<'recorded' | 'voided'>;
  usage_status: string | null;
  transport: string | null;
  currency_code: Generated<string>;
  input_tokens: Generated<number>;
  cached_input_tokens: Generated<number>;
  cache_write_tokens: Generated<number>;
  output_tokens: Generated<number>;
  reasoning_tokens: Generated<number>;
  total_tokens: Generated<number>;
  request_count: Generated<number>;
  estimated_cost_micros: string | null;
  settled_cost_micros: string | null;
  correction_of_entry_id: string | null;
  source_event_id: string;
  occurred_at: Generated<Date>;
  details: Generated<Record<string, unknown>>;
  created_at: Generated<Date>;
}

export interface ApiKeyUsageBucketTable {
  api_key_id: string;
  minute: Date;
  request_count: Generated<number>;
  total_tokens: Generated<number>;
  cost_micros: Generated<string>;
}

/** One admission of a key with a requests-per-minute limit; rows older than 60 s are pruned as keys are checked. */
export interface ApiKeyAdmissionTable {
  api_key_id: string;
  admitted_at: Date;
}

export type NewLedgerEntry = Insertable<LedgerEntryTable>;

export interface LedgerTables {
  ledger_entries: LedgerEntryTable;
  api_key_usage_buckets: ApiKeyUsageBucketTable;
  api_key_admissions: ApiKeyAdmissionTable;
}
