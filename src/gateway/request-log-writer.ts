import type { Logger } from 'pino';
import { ledgerEntries, PriceBook, writeLedger, type LedgerRequest } from '../accounting/index.ts';
import type { NewLedgerEntry } from '../accounting/ledger.table.ts';
import type { Db } from '../db/index.ts';
import type { NewAttemptRow, NewRequestRow } from './request-log.table.ts';

/** One finished request: its log row, its attempts and, when it reached the routing stage, its ledger facts. */
export type RequestLogRecord = { request: NewRequestRow & { id: string }; attempts: NewAttemptRow[]; ledger?: LedgerRequest };

const FLUSH_INTERVAL_MS = 500;
// Small batches keep each insert's build-and-serialize step from blocking the event loop for long.
const FLUSH_BATCH = 50;
const MAX_BUFFERED = 20_000;
const MAX_FLUSH_FAILURES = 5;

/**
 * Request logs are metadata only and written off the hot path: buffered, flushed in batches within
 * about half a second, and on shutdown. A failed batch is retried on the next flush.
 */
export class RequestLogWriter {
  #db: Db;
  #log: Logger;
  #buffer: RequestLogRecord[] = [];
  #timer: NodeJS.Timeout | null = null;
  #chain: Promise<void> = Promise.resolve();
  #failures = 0;
  #closed = false;
  #prices: PriceBook;

  constructor(db: Db, log: Logger) {
    this.#db = db;
    this.#log = log;
    this.#prices = new PriceBook(db);
  }

  get pending(): number {
    return this.#buffer.length;
  }

  write(record: RequestLogRecord): void {
    if (this.#buffer.length >= MAX_BUFFERED) {
      this.#log.error({ dropped: 1 }, 'request log buffer full; dropping the oldest record');
      this.#buffer.shift();
    }
    this.#buffer.push(record);
    if (this.#buffer.length >= FLUSH_BATCH) void this.flush();
    else if (!this.#timer && !this.#closed) this.#timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
  }

  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#chain = this.#chain.then(() => this.#drain());
    return this.#chain;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  async #drain(): Promise<void> {
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.splice(0, FLUSH_BATCH);
      try {
        // Prices are resolved before the transaction: the embedded database has one session.
        const ledger: NewLedgerEntry[] = [];
        for (const record of batch) {
          if (!record.ledger) continue;
          const price = await this.#prices.priceFor(record.ledger.model, record.ledger.serviceTier, record.ledger.estimatedInputTokens).catch(() => null);
          ledger.push(...ledgerEntries(record.ledger, price));
        }
        await this.#db.transaction().execute(async (tx) => {
          await tx.insertInto('requests').values(batch.map((r) => r.request)).onConflict((oc) => oc.column('correlation_id').doNothing()).execute();
          const attempts = batch.flatMap((r) => r.attempts);
          if (attempts.length) await tx.insertInto('attempts').values(attempts).onConflict((oc) => oc.columns(['request_id', 'attempt_number']).doNothing()).execute();
          await writeLedger(tx, ledger);
        });
        this.#failures = 0;
      } catch (error) {
        this.#failures += 1;
        this.#log.warn({ err: error, records: batch.length, failures: this.#failures }, 'request logs could not be written; will retry');
        if (this.#failures < MAX_FLUSH_FAILURES) this.#buffer.unshift(...batch);
        if (!this.#closed && !this.#timer) this.#timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS * 2);
        return;
      }
    }
  }
}
