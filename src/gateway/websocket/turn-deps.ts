import type { Logger } from 'pino';
import type { KeyPolicyGate } from '../../accounting/index.ts';
import type { AuthenticatedKey } from '../../api-keys/index.ts';
import type { Metrics } from '../../metrics/index.ts';
import type { Admission, AttemptAdmission, Candidate, RoutingState } from '../../routing/index.ts';
import type { CredentialStore, QuotaRecorder } from '../../upstreams/index.ts';
import type { ReplayedItemStore } from '../item-store.ts';
import type { RequestLogWriter } from '../request-log-writer.ts';
import type { TokenUsage } from '../usage.ts';
import type { Surface } from './codecs.ts';
import type { KeyCheck } from './key-check.ts';
import type { TurnStatus } from './turn-log.ts';
import type { UpstreamSocket } from './upstream-socket.ts';

/** What a websocket turn needs from the process: the same services the HTTP dispatch uses. */
export type TurnDeps = {
  routing: RoutingState;
  credentials: CredentialStore;
  quota: QuotaRecorder;
  requestLog: RequestLogWriter;
  keyPolicies: KeyPolicyGate;
  admission: Admission;
  /** Output items relayed to `/v1` clients, shared with POST /v1/responses for `item_reference` replays. */
  replayedItems: ReplayedItemStore;
  metrics: Metrics;
  log: Logger;
  upstreamBaseUrl: string;
  timeouts: { connectMs: number; idleMs: number };
  now: () => number;
  /** The key's model allow-list and the pool catalog: the upstream model id, or a PoolerError. */
  resolveModel(key: AuthenticatedKey, requested: string): Promise<string>;
  modelsEtag(poolId: string): Promise<string | null>;
  /**
   * The client's key as it is now (each turn runs with its current model policy), `inactive` when
   * it is no longer active on the client's surface (revoked, expired, paused, moved to another pool,
   * or /v1 compatibility turned off for a /v1 socket), `unverified` when the check itself failed.
   */
  checkKey(client: ClientContext): Promise<KeyCheck>;
};

/** Where a session's frames go: a client socket here, or the internal socket of the replica it reached. */
export type Downstream = {
  /** False once more than the high-water mark is queued: the caller waits for `drained()`. */
  send(text: string): boolean;
  drained(): Promise<void>;
  close(code: number, reason: string): void;
  readonly open: boolean;
};

export type ClientContext = {
  /** The transport the client connected to: its key is re-checked for that surface. */
  surface: Surface;
  /**
   * The key presented at the upgrade, or for a forwarded session the fresh key its replica sent with
   * the latest turn; each turn re-checks it and runs with the result.
   */
  key: AuthenticatedKey;
  /** The upgrade's Authorization value, kept in memory to re-check the key; absent for forwarded turns. */
  authorization: string | null;
  clientIp: string | null;
  userAgent: string | null;
  clientRequestId: string;
  forwarded: boolean;
};

/** A session's upstream socket, the account it was opened on and the credential epoch of the token it presented. */
export type UpstreamLink = { socket: UpstreamSocket; candidate: Candidate; admission: AttemptAdmission; credentialEpoch: number };

export type TurnOutcome = {
  status: TurnStatus;
  statusCode: number;
  errorCode: string | null;
  usage: TokenUsage | null;
  firstByteAt: number | null;
  upstreamFailure: boolean;
  /** The first meaningful event was a failure another account may serve; nothing reached the client. */
  failover?: boolean;
  /**
   * The first meaningful event said the account's token is no longer accepted (`invalid_api_key`,
   * `invalid_authentication`); nothing reached the client and the turn may be retried on the same
   * account with a refreshed token. Set together with `failover`.
   */
  authRetry?: boolean;
};
