import { sql, type RawBuilder } from 'kysely';
import { isUuid } from './ids.ts';

/**
 * Keyset pagination over (timestamp, id) descending. The cursor carries the timestamp as whole
 * microseconds since the epoch, so rows written with PostgreSQL's µs precision page exactly.
 */
export type PageCursor = { micros: string; id: string };


export function encodeCursor(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify([cursor.micros, cursor.id]), 'utf8').toString('base64url');
}

/** Null for anything that is not a cursor this module produced. */
export function decodeCursor(raw: string): PageCursor | null {
  if (raw.length > 200) return null;
  try {
    const value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(value) || value.length !== 2) return null;
    const [micros, id] = value as unknown[];
    if (typeof micros !== 'string' || !/^\d{1,18}$/.test(micros) || typeof id !== 'string' || !isUuid(id)) return null;
    return { micros, id };
  } catch {
    return null;
  }
}

/** `column` as µs since the epoch, as text (select it to build the next cursor). */
export const microsOf = (column: string): RawBuilder<string> => sql<string>`(extract(epoch from ${sql.ref(column)}) * 1000000)::bigint::text`;

/** `(column, idColumn) < cursor`: the rows after the cursor in descending order. */
export const beforeCursor = (column: string, idColumn: string, cursor: PageCursor): RawBuilder<boolean> =>
  sql<boolean>`(${sql.ref(column)}, ${sql.ref(idColumn)}) < (timestamptz 'epoch' + ${cursor.micros}::bigint * interval '1 microsecond', ${cursor.id}::uuid)`;
