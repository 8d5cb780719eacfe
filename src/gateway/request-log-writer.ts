import type { Logger } from 'pino';
import { closingEntry, PriceBook, reservationEntry, writeLedger, type LedgerRequest } from '../accounting/index.ts';
import type { NewLedgerEntry } from '../accounting/ledger.table.ts';
import type { Db, Tx } from '../db/index.ts';
import type { NewAttemptRow, NewRequestRow } from './request-log.table.ts';

/** One finished request: its log row, its attempts and, when it reached the routing stage, its ledger facts. */
export type RequestLogRecord = { request: NewRequestRow & { id: string }; attempts: NewAttemptRow[]; ledger?: LedgerRequest };

/** A request about to go upstream: its provisional log row (`in_progress`) and what its reservation estimates. */
export type ReservationRecord = { request: NewRequestRow & { id: string }; ledger: LedgerRequest };

type Buffered = { kind: 'reservation'; record: ReservationRecord } | { kind: 'finished'; record: RequestLogRecord };

const FLUSH_INTERVAL_MS = 500;
// Small batches keep each insert's build-and-serialize step from blocking the event loop for long.
const FLUSH_BATCH = 50;
const MAX_BUFFERED = 20_000;
const MAX_FLUSH_FAILURES = 5;
/** On close, requests still running get this long to finish (their connections are already cut). */
const CLOSE_WAIT_MS = 10_000;
/**
 * Requests still running have their row's updated_at touched this often, so the stale-reservation
 * cleanup (which needs an hour of silence) never releases a long stream that is still being served.
 */
const HEARTBEAT_MS = 10 * 60_000;
const HEARTBEAT_CHUNK = 1000;
/**
 * No request runs this long: a reservation still open after it lost its write (a bug, a handler
 * that never finished), so the heartbeat stops keeping it alive and the cleanup job releases it.
 */
const OPEN_CEILING_MS = 24 * 3_600_000;

/**
 * Request logs and ledger rows are written off the hot path: buffered, flushed in batches within
 * about half a second, and on shutdown. A request's reservation (with its provisional log row) is
 * queued before the upstream call and its settlement or release when it ends; both are idempotent
 * by source event id, so a retried batch never double counts. A failed batch is retried on the next
 * flush. Closing waits for reserved requests to finish, so a clean shutdown loses no ledger row; a
 * crash leaves reservations the stale-reservation cleanup job releases.
 */
export class RequestLogWriter {
  #db: Db;
  #log: Logger;
  #buffer: Buffered[] = [];
  #timer: NodeJS.Timeout | null = null;
  #chain: Promise<void> = Promise.resolve();
  #failures = 0;
  #closed = false;
  #prices: PriceBook;
  /** Requests reserved here and not finished yet: id → when reserved. */
  #open = new Map<string, number>();
  #idle: (() => void) | null = null;
  #heartbeat: NodeJS.Timeout;
  #openCeilingMs: number;
  #now: () => number;

  constructor(db: Db, log: Logger, options: { heartbeatMs?: number; openCeilingMs?: number; now?: () => number } = {}) {
    this.#db = db;
    this.#log = log;
    this.#openCeilingMs = options.openCeilingMs ?? OPEN_CEILING_MS;
    this.#now = options.now ?? Date.now;
    this.#prices = new PriceBook(db);
    this.#heartbeat = setInterval(() => void this.touchOpenRequests(), options.heartbeatMs ?? HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /** Marks the rows of requests still running here as alive (see HEARTBEAT_MS); best effort. */
  async touchOpenRequests(): Promise<number> {
    const ids = this.#stillPlausible();
    let touched = 0;
    for (let i = 0; i < ids.length; i += HEARTBEAT_CHUNK) {
      try {
        const result = await this.#db
          .updateTable('requests')
          .set({ updated_at: new Date() })
          .where('id', 'in', ids.slice(i, i + HEARTBEAT_CHUNK))
          .where('status', 'in', ['accepted', 'in_progress'])
          .executeTakeFirst();
        touched += Number(result.numUpdatedRows ?? 0);
      } catch (error) {
        this.#log.warn({ err: error }, 'running requests could not be marked alive; will retry');
      }
    }
    return touched;
  }

  /** Open ids reserved within the ceiling; older ones are given up (dropped, warned about once). */
  #stillPlausible(): string[] {
    const oldest = this.#now() - this.#openCeilingMs;
    const alive: string[] = [];
    const abandoned: string[] = [];
    for (const [id, reservedAt] of this.#open) (reservedAt > oldest ? alive : abandoned).push(id);
    if (abandoned.length > 0) {
      for (const id of abandoned) this.#open.delete(id);
      this.#log.warn(
        { abandoned_reservations: abandoned.length, request_ids: abandoned.slice(0, 20), ceiling_hours: this.#openCeilingMs / 3_600_000 },
        'reservations open past the ceiling are no longer kept alive; the stale-reservation cleanup will release them',
      );
      if (this.#open.size === 0) this.#idle?.();
    }
    return alive;
  }

  get pending(): number {
    return this.#buffer.length;
  }

  /** Requests reserved and not finished yet (in this process). */
  get openReservations(): number {
    return this.#open.size;
  }

  /** Queues a request's reservation; never awaited on the hot path. */
  reserve(record: ReservationRecord): void {
    this.#open.set(record.request.id, this.#now());
    this.#push({ kind: 'reservation', record });
  }

  /** Queues a finished request: its final log row, attempts, and the settlement or release of its reservation. */
  write(record: RequestLogRecord): void {
    this.#push({ kind: 'finished', record });
    if (this.#open.delete(record.request.id) && this.#open.size === 0) this.#idle?.();
  }

  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#chain = this.#chain.then(() => this.#drain());
    return this.#chain;
  }

  /** Waits (bounded) for reserved requests to finish, then writes everything buffered. */
  async close(waitMs = CLOSE_WAIT_MS): Promise<void> {
    if (this.#open.size > 0) {
      this.#log.info({ open_requests: this.#open.size }, 'waiting for running requests to record their usage');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.#idle = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs))),
      ]);
      clearTimeout(timer);
      this.#idle = null;
      if (this.#open.size > 0) this.#log.warn({ open_requests: this.#open.size }, 'requests still running at shutdown; their reservations stay open until the cleanup job releases them');
    }
    this.#closed = true;
    clearInterval(this.#heartbeat);
    await this.flush();
  }

  #push(item: Buffered): void {
    if (this.#buffer.length >= MAX_BUFFERED) {
      this.#log.error({ dropped: 1 }, 'request log buffer full; dropping the oldest record');
      this.#buffer.shift();
    }
    this.#buffer.push(item);
    if (this.#buffer.length >= FLUSH_BATCH) void this.flush();
    else if (!this.#timer) this.#timer = setTimeout(() => void this.flush(), this.#closed ? 0 : FLUSH_INTERVAL_MS);
  }

  async #drain(): Promise<void> {
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.splice(0, FLUSH_BATCH);
      try {
        // Prices are resolved before the transaction: the embedded database has one session.
        const ledger = await this.#ledgerOf(batch);
        await this.#db.transaction().execute((tx) => writeBatch(tx, batch, ledger));
        this.#failures = 0;
      } catch (error) {
        // A key, pool or account deleted while its rows waited here: those rows went with it (the
        // delete cascades), so drop or detach them and write the rest at once instead of stalling.
        if (isForeignKeyViolation(error) && (await this.#dropOrphans(batch))) {
          this.#buffer.unshift(...batch);
          continue;
        }
        this.#failures += 1;
        this.#log.warn({ err: error, records: batch.length, failures: this.#failures }, 'request logs could not be written; will retry');
        if (this.#failures < MAX_FLUSH_FAILURES) this.#buffer.unshift(...batch);
        if (!this.#timer) this.#timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS * 2);
        return;
      }
    }
  }

  /**
   * Removes records whose pool or key no longer exists and detaches deleted accounts (from the
   * request row, its attempts and its ledger facts); true when anything changed.
   */
  async #dropOrphans(batch: Buffered[]): Promise<boolean> {
    const assignmentIds = new Set<string>();
    const identityIds = new Set<string>();
    for (const item of batch) {
      const { request, ledger } = item.record;
      const attempts = item.kind === 'finished' ? item.record.attempts : [];
      for (const id of [request.pool_upstream_assignment_id, ledger?.assignmentId, ...attempts.map((a) => a.pool_upstream_assignment_id)]) if (id) assignmentIds.add(id);
      for (const id of [request.upstream_identity_id, ledger?.identityId, ...attempts.map((a) => a.upstream_identity_id)]) if (id) identityIds.add(id);
    }
    const existing = async (table: 'pools' | 'api_keys' | 'pool_upstream_assignments' | 'upstream_identities', wanted: Iterable<string>) => {
      const ids = [...new Set(wanted)];
      return new Set(ids.length ? (await this.#db.selectFrom(table).select('id').where('id', 'in', ids).execute()).map((row) => row.id) : []);
    };
    const [pools, keys, assignments, identities] = await Promise.all([
      existing('pools', batch.flatMap((item) => item.record.request.pool_id ?? [])),
      existing('api_keys', batch.flatMap((item) => item.record.request.api_key_id ?? [])),
      existing('pool_upstream_assignments', assignmentIds),
      existing('upstream_identities', identityIds),
    ]);
    const before = batch.length;
    let detached = 0;
    const gone = (id: string | null | undefined, present: Set<string>) => {
      if (!id || present.has(id)) return false;
      detached++;
      return true;
    };
    for (let i = batch.length - 1; i >= 0; i--) {
      const item = batch[i]!;
      const { request, ledger } = item.record;
      if ((request.pool_id && !pools.has(request.pool_id)) || (request.api_key_id && !keys.has(request.api_key_id))) {
        this.#open.delete(request.id);
        batch.splice(i, 1);
        continue;
      }
      if (gone(request.pool_upstream_assignment_id, assignments)) request.pool_upstream_assignment_id = null;
      if (gone(request.upstream_identity_id, identities)) request.upstream_identity_id = null;
      if (ledger && gone(ledger.assignmentId, assignments)) ledger.assignmentId = null;
      if (ledger && gone(ledger.identityId, identities)) ledger.identityId = null;
      for (const attempt of item.kind === 'finished' ? item.record.attempts : []) {
        if (gone(attempt.pool_upstream_assignment_id, assignments)) attempt.pool_upstream_assignment_id = null;
        if (gone(attempt.upstream_identity_id, identities)) attempt.upstream_identity_id = null;
      }
    }
    const dropped = before - batch.length;
    if (dropped) this.#log.info({ dropped }, 'request logs of deleted keys or pools discarded');
    if (dropped && this.#open.size === 0) this.#idle?.();
    return dropped > 0 || detached > 0;
  }

  async #ledgerOf(batch: Buffered[]): Promise<NewLedgerEntry[]> {
    const entries = new Map<string, NewLedgerEntry>();
    for (const item of batch) {
      const facts = item.record.ledger;
      if (!facts) continue;
      const price = await this.#prices.priceFor(facts.model, facts.serviceTier, facts.estimatedInputTokens).catch(() => null);
      // A finished request carries its reservation too: the write stays complete if the first one was lost.
      const reservation = reservationEntry(facts, price);
      if (!entries.has(reservation.source_event_id)) entries.set(reservation.source_event_id, reservation);
      if (item.kind === 'finished') {
        const closing = closingEntry(facts, price);
        entries.set(closing.source_event_id, closing);
      }
    }
    return [...entries.values()];
  }
}

function isForeignKeyViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '23503';
}

/**
 * One batch in one transaction: provisional rows insert only if absent, final rows replace them,
 * then attempts and ledger rows (after the request rows their foreign keys point at).
 */
async function writeBatch(tx: Tx, batch: Buffered[], ledger: NewLedgerEntry[]): Promise<void> {
  const finished = new Map<string, RequestLogRecord>();
  for (const item of batch) if (item.kind === 'finished') finished.set(item.record.request.id, item.record);
  const provisional = batch.flatMap((item) => (item.kind === 'reservation' && !finished.has(item.record.request.id) ? [item.record.request] : []));
  if (provisional.length) await tx.insertInto('requests').values(provisional).onConflict((oc) => oc.column('id').doNothing()).execute();
  const finals = [...finished.values()].map((r) => r.request);
  if (finals.length) {
    const columns = [...new Set(finals.flatMap((row) => Object.keys(row)))].filter((c) => c !== 'id' && c !== 'created_at') as (keyof NewRequestRow)[];
    await tx
      .insertInto('requests')
      .values(finals)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => Object.fromEntries([...columns.map((c) => [c, eb.ref(`excluded.${c}`)]), ['updated_at', new Date()]]) as never),
      )
      .execute();
  }
  const attempts = [...finished.values()].flatMap((r) => r.attempts);
  if (attempts.length) await tx.insertInto('attempts').values(attempts).onConflict((oc) => oc.columns(['request_id', 'attempt_number']).doNothing()).execute();
  await writeLedger(tx, ledger);
}
