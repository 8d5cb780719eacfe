import { sql, type Kysely } from 'kysely';

// Frozen in time: this file never imports application code. PostgreSQL 15 compatible.
// Daily rollup coverage (spec §2.6, §7.3): a rebuilt past UTC day stays trusted only while its source
// rows are unchanged. Statement-level triggers on requests and ledger_entries bump the day's
// mutation_version and clear completed_at when rows of a past day are inserted or their measures change.
// A request is accounted on the UTC day it was admitted; its ledger rows follow it to that day.
// Deletes (retention pruning, cascades) never invalidate: the rollup then is the record of that day.
// Today's rows never touch the coverage table, so the hot write path takes no shared row lock.

export async function up(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `
ALTER TABLE daily_rollups ADD COLUMN unpriced_request_count bigint NOT NULL DEFAULT 0;
CREATE INDEX daily_rollups_kind_date_idx ON daily_rollups (dimension_kind, rollup_date);
-- Rollup rebuilds join ledger rows to their request; FK cascades from requests need it too.
CREATE INDEX ledger_entries_request_idx ON ledger_entries (request_id);

CREATE FUNCTION rollup_coverage_invalidate(dates date[]) RETURNS void LANGUAGE sql AS $fn$
  INSERT INTO daily_rollup_coverages AS c (rollup_date, contract_version, completed_at, mutation_version)
  SELECT d, 2, NULL, 1
  FROM (SELECT DISTINCT d FROM unnest(dates) AS d WHERE d IS NOT NULL AND d < (now() AT TIME ZONE 'UTC')::date) AS past
  ORDER BY d -- one lock order for every writer: no deadlocks between concurrent batches
  ON CONFLICT (rollup_date) DO UPDATE SET mutation_version = c.mutation_version + 1, completed_at = NULL;
$fn$;

CREATE FUNCTION rollup_coverage_requests_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM rollup_coverage_invalidate(ARRAY(SELECT (n.admitted_at AT TIME ZONE 'UTC')::date FROM new_rows n));
  ELSE
    -- Only changes to what a rollup counts; SET NULL cascades on accounts keep the day trusted.
    PERFORM rollup_coverage_invalidate(ARRAY(
      SELECT unnest(ARRAY[(n.admitted_at AT TIME ZONE 'UTC')::date, (o.admitted_at AT TIME ZONE 'UTC')::date])
      FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE (n.admitted_at, n.pool_id, n.api_key_id, n.model_id, n.requested_model, n.status, n.retry_count,
             n.input_tokens, n.cached_input_tokens, n.output_tokens, n.reasoning_tokens, n.total_tokens)
        IS DISTINCT FROM
            (o.admitted_at, o.pool_id, o.api_key_id, o.model_id, o.requested_model, o.status, o.retry_count,
             o.input_tokens, o.cached_input_tokens, o.output_tokens, o.reasoning_tokens, o.total_tokens)));
  END IF;
  RETURN NULL;
END
$fn$;

CREATE FUNCTION rollup_coverage_ledger_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM rollup_coverage_invalidate(ARRAY(
      SELECT (r.admitted_at AT TIME ZONE 'UTC')::date FROM new_rows n JOIN requests r ON r.id = n.request_id));
  ELSE
    PERFORM rollup_coverage_invalidate(ARRAY(
      SELECT (r.admitted_at AT TIME ZONE 'UTC')::date
      FROM new_rows n JOIN old_rows o ON o.id = n.id JOIN requests r ON r.id IN (n.request_id, o.request_id)
      WHERE (n.request_id, n.entry_kind, n.amount_status, n.usage_status, n.estimated_cost_micros, n.settled_cost_micros, n.details->'unpriced')
        IS DISTINCT FROM
            (o.request_id, o.entry_kind, o.amount_status, o.usage_status, o.estimated_cost_micros, o.settled_cost_micros, o.details->'unpriced')));
  END IF;
  RETURN NULL;
END
$fn$;

CREATE TRIGGER requests_rollup_coverage_insert AFTER INSERT ON requests
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_coverage_requests_changed();
CREATE TRIGGER requests_rollup_coverage_update AFTER UPDATE ON requests
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_coverage_requests_changed();
CREATE TRIGGER ledger_entries_rollup_coverage_insert AFTER INSERT ON ledger_entries
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_coverage_ledger_changed();
CREATE TRIGGER ledger_entries_rollup_coverage_update AFTER UPDATE ON ledger_entries
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rollup_coverage_ledger_changed();
`,
    )
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `
DROP TRIGGER IF EXISTS ledger_entries_rollup_coverage_update ON ledger_entries;
DROP TRIGGER IF EXISTS ledger_entries_rollup_coverage_insert ON ledger_entries;
DROP TRIGGER IF EXISTS requests_rollup_coverage_update ON requests;
DROP TRIGGER IF EXISTS requests_rollup_coverage_insert ON requests;
DROP FUNCTION IF EXISTS rollup_coverage_ledger_changed();
DROP FUNCTION IF EXISTS rollup_coverage_requests_changed();
DROP FUNCTION IF EXISTS rollup_coverage_invalidate(date[]);
DROP INDEX IF EXISTS ledger_entries_request_idx;
DROP INDEX IF EXISTS daily_rollups_kind_date_idx;
ALTER TABLE daily_rollups DROP COLUMN IF EXISTS unpriced_request_count;
`,
    )
    .execute(db);
}
