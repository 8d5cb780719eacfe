/**
 * A key holder's Observatory sessions belong to the key: they end whenever the key stops being
 * usable as it was (paused, revoked, rotated, moved, dashboard access turned off; spec §6.2). The
 * statement lives here so the key's lifecycle and the Observatory (which imports this domain) share
 * it; the table type stays with the Observatory and reaches this domain through `Db`.
 */
import type { Db, Tx } from '../db/index.ts';

/** Ends every Observatory session of a key; the number of sessions ended. */
export async function deleteObservatorySessions(db: Db | Tx, apiKeyId: string): Promise<number> {
  const result = await db.deleteFrom('api_key_dashboard_sessions').where('api_key_id', '=', apiKeyId).executeTakeFirst();
  return Number(result.numDeletedRows ?? 0);
}
