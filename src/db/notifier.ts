import { EventEmitter } from 'node:events';
import pg from 'pg';

export type NotificationHandler = (payload: string) => void;

/**
 * Cache invalidation between processes. On PostgreSQL it is LISTEN/NOTIFY on a dedicated
 * connection; the embedded database serves one process, so an in-process emitter is enough.
 */
export interface Notifier {
  publish(channel: string, payload: string): Promise<void>;
  subscribe(channel: string, handler: NotificationHandler): Promise<void>;
  close(): Promise<void>;
}

const CHANNEL_SHAPE = /^[a-z_][a-z0-9_]{0,62}$/;

function assertChannel(channel: string): void {
  if (!CHANNEL_SHAPE.test(channel)) throw new Error(`invalid notification channel ${channel}`);
}

export function createLocalNotifier(): Notifier {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(channel, payload) {
      assertChannel(channel);
      // Deliver asynchronously like a real NOTIFY, so publishers never re-enter their own handlers.
      setImmediate(() => emitter.emit(channel, payload));
    },
    async subscribe(channel, handler) {
      assertChannel(channel);
      emitter.on(channel, handler);
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}

export function createPostgresNotifier(pool: pg.Pool, connectionString: string, onError: (error: Error) => void): Notifier {
  const handlers = new Map<string, Set<NotificationHandler>>();
  let listener: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  let closed = false;

  const connect = (): Promise<pg.Client> => {
    connecting ??= (async () => {
      const client = new pg.Client({ connectionString });
      client.on('notification', (message) => {
        for (const handler of handlers.get(message.channel) ?? []) handler(message.payload ?? '');
      });
      client.on('error', (error) => {
        onError(error);
        listener = null;
        connecting = null;
        // Reconnect and re-listen: a lost listener would silently leave caches stale.
        if (!closed) setTimeout(() => void relisten().catch(onError), 1000).unref();
      });
      await client.connect();
      listener = client;
      return client;
    })();
    return connecting;
  };

  const relisten = async () => {
    const client = await connect();
    for (const channel of handlers.keys()) await client.query(`LISTEN ${channel}`);
  };

  return {
    async publish(channel, payload) {
      assertChannel(channel);
      await pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async subscribe(channel, handler) {
      assertChannel(channel);
      const existing = handlers.get(channel);
      if (existing) {
        existing.add(handler);
        return;
      }
      handlers.set(channel, new Set([handler]));
      const client = await connect();
      await client.query(`LISTEN ${channel}`);
    },
    async close() {
      closed = true;
      handlers.clear();
      await listener?.end().catch(() => {});
    },
  };
}
