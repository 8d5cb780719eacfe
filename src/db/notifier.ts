import { EventEmitter } from 'node:events';
import pg from 'pg';

export type NotificationHandler = (payload: string) => void;

export type PublishOptions = {
  /**
   * true (default): resolve once this process's own handlers have run (bounded), so a change made
   * here (a revoked key, a pool edit) is in effect here before its caller answers: admin and CLI.
   * false: resolve as soon as the notification is sent: hot and fire-and-forget paths (routing
   * state, token refresh) whose change is already applied locally and must not wait or allocate.
   */
  awaitLocal?: boolean;
};

/**
 * Cache invalidation between processes. On PostgreSQL it is LISTEN/NOTIFY on a dedicated
 * connection; the embedded database serves one process, so an in-process emitter is enough.
 * Handlers always run asynchronously, never inside `publish`.
 */
export interface Notifier {
  publish(channel: string, payload: string, options?: PublishOptions): Promise<void>;
  subscribe(channel: string, handler: NotificationHandler): Promise<void>;
  close(): Promise<void>;
}

const CHANNEL_SHAPE = /^[a-z_][a-z0-9_]{0,62}$/;
/** How long a publisher waits for its own notification to come back before carrying on. */
const ECHO_WAIT_MS = 1000;

const echoKey = (channel: string, payload: string) => `${channel}\u0000${payload}`;

function assertChannel(channel: string): void {
  if (!CHANNEL_SHAPE.test(channel)) throw new Error(`invalid notification channel ${channel}`);
}

export function createLocalNotifier(): Notifier {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(channel, payload, options) {
      assertChannel(channel);
      // Deliver asynchronously like a real NOTIFY, so publishers never re-enter their own handlers;
      // resolve once delivered unless told not to wait, like the PostgreSQL notifier (see there).
      if (options?.awaitLocal === false) {
        setImmediate(() => emitter.emit(channel, payload));
        return;
      }
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          emitter.emit(channel, payload);
          resolve();
        }),
      );
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
  // Publishers waiting for their own notification to come back to this process's listener.
  const echoes = new Map<string, Set<() => void>>();
  let listener: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  let closed = false;

  const connect = (): Promise<pg.Client> => {
    connecting ??= (async () => {
      const client = new pg.Client({ connectionString });
      client.on('notification', (message) => {
        for (const handler of handlers.get(message.channel) ?? []) handler(message.payload ?? '');
        const key = echoKey(message.channel, message.payload ?? '');
        for (const done of echoes.get(key) ?? []) done();
        echoes.delete(key);
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
    /**
     * Resolves once this process's own listener has handled the notification (bounded), when it
     * listens on the channel: a change made here (a revoked key, a pool edit) is in effect here by
     * the time its caller answers, instead of a few milliseconds later. `awaitLocal: false` skips
     * the wait (and its timer) for callers that already applied the change locally.
     */
    async publish(channel, payload, options) {
      assertChannel(channel);
      if (options?.awaitLocal === false || !listener || !handlers.has(channel)) {
        await pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
        return;
      }
      const key = echoKey(channel, payload);
      let done!: () => void;
      const echoed = new Promise<void>((resolve) => (done = resolve));
      const waiting = echoes.get(key) ?? new Set<() => void>();
      waiting.add(done);
      echoes.set(key, waiting);
      let timer: NodeJS.Timeout | undefined;
      try {
        await pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
        await Promise.race([echoed, new Promise<void>((resolve) => (timer = setTimeout(resolve, ECHO_WAIT_MS)))]);
      } finally {
        clearTimeout(timer);
        waiting.delete(done);
        if (waiting.size === 0 && echoes.get(key) === waiting) echoes.delete(key);
      }
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
