import type { PGlite } from '@electric-sql/pglite';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';

/**
 * PGlite has one session. Kysely and pg-boss both expect a pool, so this adapter hands out that one
 * session to a single holder at a time: a Kysely transaction keeps it from BEGIN to COMMIT and no
 * other statement can slip in between. Never await another database call inside a transaction
 * callback that does not use the transaction itself: it would wait forever.
 */
export class EmbeddedSession {
  #pglite: PGlite;
  #tail: Promise<void> = Promise.resolve();

  constructor(pglite: PGlite) {
    this.#pglite = pglite;
  }

  /** Waits for the session, then holds it until the returned release function runs. */
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const previous = this.#tail;
    this.#tail = previous.then(() => held);
    await previous;
    return release;
  }

  /** Runs one statement (or, without parameters, a multi-statement script) on a held session. */
  async run<R>(text: string, values: readonly unknown[] = []): Promise<PostgresQueryResult<R>> {
    if (values.length === 0 && text.includes(';')) {
      const results = await this.#pglite.exec(text);
      const rows = results.flatMap((r) => r.rows as R[]);
      return { command: 'SELECT', rowCount: rows.length, rows };
    }
    const result = await this.#pglite.query<R>(text, values as unknown[]);
    const bytea = result.fields.filter((f) => f.dataTypeID === 17).map((f) => f.name);
    if (bytea.length > 0) {
      for (const row of result.rows as Record<string, unknown>[]) {
        for (const name of bytea) {
          const value = row[name];
          if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
            row[name] = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
          }
        }
      }
    }
    const command = ((result as { command?: string }).command ?? 'SELECT') as PostgresQueryResult<R>['command'];
    return { command, rowCount: result.affectedRows ?? result.rows.length, rows: result.rows };
  }

  /** pg-boss's database interface: each call takes the session for one statement. */
  async executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> {
    const release = await this.acquire();
    try {
      return await this.run(text, values ?? []);
    } finally {
      release();
    }
  }

  /** A Kysely PostgresDialect pool over the single session. */
  asKyselyPool(): PostgresPool {
    return {
      options: {},
      connect: async () => {
        const release = await this.acquire();
        const client: PostgresPoolClient = {
          query: ((text: string, values: readonly unknown[]) => this.run(text, values)) as PostgresPoolClient['query'],
          release: () => release(),
        };
        return client;
      },
      end: async () => {},
    };
  }
}
