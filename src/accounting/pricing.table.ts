import type { Generated } from 'kysely';

export interface PricingSnapshotTable {
  id: Generated<string>;
  model_identifier: string;
  price_version: string;
  currency_code: Generated<string>;
  billing_unit: Generated<'token' | 'request' | 'minute'>;
  service_tier: Generated<string>;
  price_bucket: Generated<string>;
  revision: Generated<number>;
  input_token_micros: string | null;
  cached_input_token_micros: string | null;
  cache_write_token_micros: string | null;
  output_token_micros: string | null;
  reasoning_token_micros: string | null;
  request_base_micros: string | null;
  effective_at: Date | null;
  source_url: string | null;
  captured_at: Generated<Date>;
  config: Generated<Record<string, unknown>>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface AccountingTables {
  pricing_snapshots: PricingSnapshotTable;
}
