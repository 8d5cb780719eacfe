import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { z } from 'zod';
import { loadScope, readablePoolIds, resolveSession } from '../../operators/index.ts';
import { usageReport, USAGE_GROUPINGS, type UsageGroupBy } from '../../accounting/index.ts';
import { listRequestLogs, requestLogsWrittenSince } from '../../request-logs/index.ts';
import type { Services } from '../../services.ts';
import { scopeOf, type CookieJar } from '../http-session.ts';
import { readScope } from '../pool-access.ts';
import { CURSOR, LIMIT, parseInput, TIME, UUID } from '../validate.ts';

const POLL_MS = 1000;
const KEEPALIVE_MS = 15_000;
const SESSION_CHECK_MS = 30_000;
/** Rows are written in batches after they finish; re-reading this much catches late commits. */
const OVERLAP_MS = 5000;
const DEFAULT_USAGE_RANGE_MS = 7 * 86_400_000;

const LIST_QUERY = z.object({
  pool_id: UUID.optional(),
  api_key_id: UUID.optional(),
  account_id: UUID.optional(),
  model: z.string().trim().min(1).max(255).optional(),
  status: z.string().trim().min(1).max(32).optional(),
  correlation_id: z.string().trim().min(1).max(200).optional(),
  from: TIME.optional(),
  to: TIME.optional(),
  cursor: CURSOR,
  limit: LIMIT,
});

export function registerRequestLogRoutes(app: FastifyInstance, services: Services, jar: CookieJar): void {
  app.get('/request-logs', async (request) => {
    const query = parseInput(LIST_QUERY, request.query);
    const { poolIds, poolId } = await readScope(services, scopeOf(request), query.pool_id);
    return listRequestLogs(services.db, { poolIds }, {
      poolId,
      apiKeyId: query.api_key_id,
      accountId: query.account_id,
      model: query.model,
      status: query.status,
      correlationId: query.correlation_id,
      from: query.from,
      to: query.to,
      cursor: query.cursor,
      limit: query.limit,
    });
  });

  /**
   * Live view (server-sent events): every request log row written after the stream opened, in the
   * operator's Pools, as `event: request_log`. Polls the database once a second; ends when the
   * session does.
   */
  app.get('/request-logs/stream', { config: { longLived: true } }, async (request, reply) => {
    const query = parseInput(z.object({ pool_id: UUID.optional() }), request.query);
    const scope = scopeOf(request);
    const { poolId } = await readScope(services, scope, query.pool_id);
    let poolIds = readablePoolIds(scope);
    const token = jar.tokenFrom(request)!;
    const dbNow = (await sql<{ now: Date }>`SELECT now() AS now`.execute(services.db)).rows[0]!.now;
    const seen = new Map<string, number>();
    let watermark = new Date(dbNow);
    for (const row of await requestLogsWrittenSince(services.db, { poolIds }, new Date(dbNow.getTime() - OVERLAP_MS), { poolId }, 1000)) seen.set(row.id, row.written_at.getTime());

    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no', 'x-request-id': String(request.id) });
    raw.write('retry: 3000\n\n');
    let closed = false;
    let timer: NodeJS.Timeout | null = null;
    let lastWrite = Date.now();
    let lastSessionCheck = Date.now();
    const stop = () => {
      closed = true;
      if (timer) clearTimeout(timer);
    };
    raw.once('close', stop);
    const send = (chunk: string) => {
      lastWrite = Date.now();
      raw.write(chunk);
    };

    const poll = async () => {
      if (closed) return;
      try {
        if (Date.now() - lastSessionCheck > SESSION_CHECK_MS) {
          lastSessionCheck = Date.now();
          // The session may have ended, or the operator lost a Pool: re-read both.
          const session = await resolveSession(services.db, token, new Date());
          const current = session?.mfaVerified && !session.passwordChangeRequired ? await loadScope(services.db, session, scope.context) : null;
          if (current) poolIds = readablePoolIds(current);
          if (!current || (poolId && poolIds !== null && !poolIds.includes(poolId))) {
            send('event: session_ended\ndata: {}\n\n');
            stop();
            raw.end();
            return;
          }
        }
        const rows = await requestLogsWrittenSince(services.db, { poolIds }, new Date(watermark.getTime() - OVERLAP_MS), { poolId });
        for (const { written_at: writtenAt, ...row } of rows) {
          if (writtenAt > watermark) watermark = writtenAt;
          if (seen.has(row.id)) continue;
          seen.set(row.id, writtenAt.getTime());
          send(`event: request_log\nid: ${row.id}\ndata: ${JSON.stringify(row)}\n\n`);
        }
        const horizon = watermark.getTime() - 2 * OVERLAP_MS;
        for (const [id, at] of seen) if (at < horizon) seen.delete(id);
        if (Date.now() - lastWrite > KEEPALIVE_MS) send(': keepalive\n\n');
      } catch (error) {
        request.log.warn({ err: error }, 'request log stream stopped');
        stop();
        raw.end();
        return;
      }
      if (!closed) timer = setTimeout(() => void poll(), POLL_MS);
    };
    timer = setTimeout(() => void poll(), POLL_MS);
  });

  /**
   * Usage and cost from the ledger (the report the CLI `usage` command prints): trusted rollup
   * days plus live rows for today and anything not rolled up, grouped per UTC day, key, account
   * or model, limited to the Pools the operator may read.
   */
  app.get('/usage', async (request) => {
    const query = parseInput(z.object({ group_by: z.enum(USAGE_GROUPINGS as [UsageGroupBy, ...UsageGroupBy[]]).default('day'), pool_id: UUID.optional(), from: TIME.optional(), to: TIME.optional() }), request.query);
    const { poolIds, poolId } = await readScope(services, scopeOf(request), query.pool_id);
    const to = query.to ?? new Date();
    const from = query.from ?? new Date(to.getTime() - DEFAULT_USAGE_RANGE_MS);
    return usageReport(services.db, { from, to, groupBy: query.group_by, poolIds: poolId ? [poolId] : poolIds });
  });
}
