import type { Db } from '../../db/index.ts';
import { PoolerError } from '../../errors.ts';
import { fileObject, FILE_OBJECT_TTL_S, type FileObject } from './file-bridge.ts';
import type { FileObjectTables } from './file-object.table.ts';

/** File objects are owned by one Pool API key: every read is scoped to it, expired ones are gone. */

const files = (db: Db) => db.withTables<FileObjectTables>();

export async function recordFileObject(db: Db, input: { fileId: string; poolId: string; apiKeyId: string; assignmentId: string; filename: string; purpose: string; bytes: number; now: number }): Promise<FileObject> {
  const row = await files(db)
    .insertInto('file_objects')
    .values({
      file_id: input.fileId,
      pool_id: input.poolId,
      api_key_id: input.apiKeyId,
      pool_upstream_assignment_id: input.assignmentId,
      filename: input.filename,
      purpose: input.purpose,
      bytes: input.bytes,
      status: 'processed',
      created_at: new Date(input.now),
      expires_at: new Date(input.now + FILE_OBJECT_TTL_S * 1000),
    })
    .onConflict((oc) => oc.columns(['api_key_id', 'file_id']).doUpdateSet((eb) => ({ filename: eb.ref('excluded.filename'), purpose: eb.ref('excluded.purpose'), bytes: eb.ref('excluded.bytes'), created_at: eb.ref('excluded.created_at'), expires_at: eb.ref('excluded.expires_at') })))
    .returningAll()
    .executeTakeFirstOrThrow();
  return fileObject(row);
}

export type FileListQuery = { purpose?: string; limit: number; order: 'asc' | 'desc'; after?: string };

/** Parses the list query of `GET /v1/files` (OpenAI's `purpose`, `limit`, `order`, `after`). */
export function parseFileListQuery(query: Record<string, unknown>): FileListQuery {
  for (const key of Object.keys(query)) {
    if (!['purpose', 'limit', 'order', 'after'].includes(key)) throw new PoolerError('unsupported_parameter', `Unsupported parameter: ${key}`, { param: key });
  }
  const limit = query.limit === undefined ? 10_000 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new PoolerError('invalid_request', 'limit must be an integer between 1 and 10000', { param: 'limit' });
  const order = query.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw new PoolerError('invalid_request', 'order must be asc or desc', { param: 'order' });
  return { limit, order, ...(typeof query.purpose === 'string' ? { purpose: query.purpose } : {}), ...(typeof query.after === 'string' ? { after: query.after } : {}) };
}

export async function listFileObjects(db: Db, apiKeyId: string, query: FileListQuery, now: number): Promise<{ object: 'list'; data: FileObject[]; has_more: boolean; first_id: string | null; last_id: string | null }> {
  let select = files(db).selectFrom('file_objects').selectAll().where('api_key_id', '=', apiKeyId).where('expires_at', '>', new Date(now));
  if (query.purpose) select = select.where('purpose', '=', query.purpose);
  if (query.after) {
    const anchor = await files(db).selectFrom('file_objects').select(['created_at']).where('api_key_id', '=', apiKeyId).where('file_id', '=', query.after).executeTakeFirst();
    if (!anchor) throw new PoolerError('file_not_found', `file ${query.after} not found`, { param: 'after' });
    select = select.where('created_at', query.order === 'desc' ? '<' : '>', anchor.created_at);
  }
  const rows = await select.orderBy('created_at', query.order).orderBy('file_id', query.order).limit(query.limit + 1).execute();
  const data = rows.slice(0, query.limit).map(fileObject);
  return { object: 'list', data, has_more: rows.length > query.limit, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

/** The key's own live file, else 404 `file_not_found` (another key's file is just as unknown). */
export async function ownedFileObject(db: Db, apiKeyId: string, fileId: string, now: number): Promise<FileObject> {
  const row = await files(db).selectFrom('file_objects').selectAll().where('api_key_id', '=', apiKeyId).where('file_id', '=', fileId).where('expires_at', '>', new Date(now)).executeTakeFirst();
  if (!row) throw new PoolerError('file_not_found', `No such file: ${fileId}`, { param: 'file_id' });
  return fileObject(row);
}
