import type { Logger } from 'pino';
import type { Agent } from 'undici';
import { ApiKeyCache } from './api-keys/index.ts';
import type { Config } from './config/index.ts';
import type { DatabaseHandle, Db, Notifier } from './db/index.ts';
import { KeyPolicyGate } from './accounting/index.ts';
import { ReplayedItemStore } from './gateway/item-store.ts';
import { RequestLogWriter } from './gateway/request-log-writer.ts';
import { createMetrics, type Metrics } from './metrics/index.ts';
import { createAdmission, RoutingState, type Admission } from './routing/index.ts';
import { defaultInstanceSettings, InstanceSettingsCache } from './settings/index.ts';
import { CredentialStore, QuotaRecorder, createUpstreamAgent, publicUrlOf, type AccountDeps } from './upstreams/index.ts';

/**
 * Everything a process shares: built once from configuration and the database handle, passed
 * explicitly to the HTTP app, the CLI commands and the jobs. No module keeps globals of its own.
 */
export type Services = {
  config: Config;
  log: Logger;
  handle: DatabaseHandle;
  db: Db;
  notifier: Notifier;
  dispatcher: Agent;
  apiKeys: ApiKeyCache;
  credentials: CredentialStore;
  quota: QuotaRecorder;
  routing: RoutingState;
  requestLog: RequestLogWriter;
  accountDeps: AccountDeps;
  metrics: Metrics;
  admission: Admission;
  keyPolicies: KeyPolicyGate;
  /** Output items relayed to /v1/responses clients, for their `item_reference` replays (this process only). */
  replayedItems: ReplayedItemStore;
  /** The instance settings this process applies (re-read in the background within a minute of a change). */
  settings: InstanceSettingsCache;
  /** Starts cache invalidation listeners; only long-running web processes need them. */
  listen(): Promise<void>;
  /** Flushes async writers (request logs, quota evidence) and closes upstream connections. */
  close(): Promise<void>;
};

export function createServices(config: Config, handle: DatabaseHandle, log: Logger): Services {
  const { db, notifier } = handle;
  const dispatcher = createUpstreamAgent(config.upstreamTimeouts);
  const metrics = createMetrics();
  const routing = new RoutingState({ db, notifier, log, metrics, circuit: config.circuit });
  const credentials = new CredentialStore({ db, keyring: config.upstreamKeyring, notifier, dispatcher, issuer: config.authIssuer, log });
  const quota = new QuotaRecorder(db, log, (observation) => routing.applyQuotaEvidence(observation.identityId, observation.windows, observation.observedAt));
  const requestLog = new RequestLogWriter(db, log);
  const apiKeys = new ApiKeyCache(db);
  const admission = createAdmission(config.admissionLimits, (routeClass, outcome, waitedMs) => metrics.admission.record(routeClass, outcome, waitedMs));
  metrics.admission.watch(() => Object.entries(admission));
  const keyPolicies = new KeyPolicyGate(db, { onClaimError: (error) => log.warn({ err: error }, 'requests-per-minute slot could not be claimed in the database; using this process\'s estimate') });
  const settings = new InstanceSettingsCache(db, log, defaultInstanceSettings());
  const accountDeps: AccountDeps = { db, keyring: config.upstreamKeyring, notifier, dispatcher, upstreamBaseUrl: config.upstreamBaseUrl, log, authIssuer: config.authIssuer, publicUrl: publicUrlOf(config.publicHost, config.port) };
  return {
    config,
    log,
    handle,
    db,
    notifier,
    dispatcher,
    apiKeys,
    credentials,
    quota,
    routing,
    requestLog,
    accountDeps,
    metrics,
    admission,
    keyPolicies,
    replayedItems: new ReplayedItemStore({ maxBytes: config.replayItemCacheBytes }),
    settings,
    async listen() {
      await apiKeys.listen(notifier);
      await keyPolicies.listen(notifier);
      await credentials.listen();
      await routing.listen();
      await settings.refresh();
    },
    async close() {
      await requestLog.close();
      await quota.flush();
      await routing.close();
      await dispatcher.close().catch(() => {});
    },
  };
}
