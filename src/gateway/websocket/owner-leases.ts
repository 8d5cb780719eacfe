import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../../db/index.ts';

/** Lease length and renewal period of a session owner (routing spec A4.5). */
export const LEASE_MS = 45_000;
export const RENEW_MS = 15_000;

export type OwnerClaim =
  | { kind: 'mine'; token: string; assignmentId: string | null }
  | { kind: 'other'; instanceId: string; address: string; token: string; assignmentId: string | null };

type Row = { owner_instance_id: string; owner_address: string; owner_lease_token: string; pool_upstream_assignment_id: string | null };

/**
 * Who owns a websocket session, in PostgreSQL: one row per session digest with the owning process,
 * its internal address and a lease. Only used with owner forwarding on; a single replica never
 * touches this table.
 */
export class OwnerLeases {
  readonly instanceId: string;
  readonly address: string;
  #db: Db;

  constructor(db: Db, self: { instanceId: string; address: string }) {
    this.#db = db;
    this.instanceId = self.instanceId;
    this.address = self.address;
  }

  /** Takes the lease when it is free, stale or already ours; otherwise answers the live owner. */
  async claim(sessionId: string, scope: { poolId: string; apiKeyId: string }): Promise<OwnerClaim> {
    const token = randomUUID();
    const claimed = await sql<Row>`
      INSERT INTO websocket_session_owners (session_id, pool_id, api_key_id, owner_instance_id, owner_address, owner_lease_token, owner_lease_expires_at)
      VALUES (${sessionId}, ${scope.poolId}, ${scope.apiKeyId}, ${this.instanceId}, ${this.address}, ${token}, now() + ${`${LEASE_MS} milliseconds`}::interval)
      ON CONFLICT (session_id) DO UPDATE SET
        owner_instance_id = EXCLUDED.owner_instance_id, owner_address = EXCLUDED.owner_address,
        owner_lease_token = CASE WHEN websocket_session_owners.owner_instance_id = EXCLUDED.owner_instance_id THEN websocket_session_owners.owner_lease_token ELSE EXCLUDED.owner_lease_token END,
        owner_lease_expires_at = EXCLUDED.owner_lease_expires_at, updated_at = now()
      WHERE websocket_session_owners.owner_lease_expires_at < now() OR websocket_session_owners.owner_instance_id = EXCLUDED.owner_instance_id
      RETURNING owner_instance_id, owner_address, owner_lease_token, pool_upstream_assignment_id`.execute(this.#db);
    const mine = claimed.rows[0];
    if (mine) return { kind: 'mine', token: mine.owner_lease_token, assignmentId: mine.pool_upstream_assignment_id };
    const current = await sql<Row>`
      SELECT owner_instance_id, owner_address, owner_lease_token, pool_upstream_assignment_id FROM websocket_session_owners WHERE session_id = ${sessionId}`.execute(this.#db);
    const row = current.rows[0];
    // Released between the two statements: try once more.
    if (!row) return this.claim(sessionId, scope);
    return { kind: 'other', instanceId: row.owner_instance_id, address: row.owner_address, token: row.owner_lease_token, assignmentId: row.pool_upstream_assignment_id };
  }

  /** Replaces an unreachable owner's lease (compare-and-swap on its token); null when someone else was faster. */
  async takeOver(sessionId: string, staleToken: string): Promise<{ token: string; assignmentId: string | null } | null> {
    const token = randomUUID();
    const result = await sql<Row>`
      UPDATE websocket_session_owners SET owner_instance_id = ${this.instanceId}, owner_address = ${this.address}, owner_lease_token = ${token},
        owner_lease_expires_at = now() + ${`${LEASE_MS} milliseconds`}::interval, updated_at = now()
      WHERE session_id = ${sessionId} AND owner_lease_token = ${staleToken}
      RETURNING owner_instance_id, owner_address, owner_lease_token, pool_upstream_assignment_id`.execute(this.#db);
    const row = result.rows[0];
    return row ? { token: row.owner_lease_token, assignmentId: row.pool_upstream_assignment_id } : null;
  }

  /** True while this process holds the session's lease (a forwarded attach is refused otherwise). */
  async holds(sessionId: string): Promise<boolean> {
    const result = await sql<{ n: number }>`
      SELECT 1 AS n FROM websocket_session_owners WHERE session_id = ${sessionId} AND owner_instance_id = ${this.instanceId} AND owner_lease_expires_at > now()`.execute(this.#db);
    return result.rows.length > 0;
  }

  async bind(sessionId: string, assignmentId: string): Promise<void> {
    await sql`UPDATE websocket_session_owners SET pool_upstream_assignment_id = ${assignmentId}, updated_at = now() WHERE session_id = ${sessionId}`.execute(this.#db);
  }

  /** One statement renews every session this process still owns. */
  async renew(sessionIds: readonly string[]): Promise<void> {
    if (sessionIds.length === 0) return;
    await sql`
      UPDATE websocket_session_owners SET owner_lease_expires_at = now() + ${`${LEASE_MS} milliseconds`}::interval
      WHERE owner_instance_id = ${this.instanceId} AND session_id = ANY(${sql.val(sessionIds)}::text[])`.execute(this.#db);
  }

  /** The session left this process: its lease ends now; its account binding stays for the next owner. */
  async release(sessionIds: readonly string[]): Promise<void> {
    if (sessionIds.length === 0) return;
    await sql`
      UPDATE websocket_session_owners SET owner_lease_expires_at = now(), updated_at = now()
      WHERE owner_instance_id = ${this.instanceId} AND session_id = ANY(${sql.val(sessionIds)}::text[])`.execute(this.#db);
  }
}
