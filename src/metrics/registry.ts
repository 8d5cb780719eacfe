import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5];
const UPSTREAM_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const JOB_BUCKETS = [0.01, 0.1, 0.5, 1, 5, 15, 60, 300];
const ADMISSION_WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5];
const ADMISSION_EVENTS = ['accepted', 'enqueued', 'dequeued', 'rejected', 'timeout'] as const;
export type AdmissionEvent = (typeof ADMISSION_EVENTS)[number];
/** Running and queued counts of each bulkhead, read at scrape time. */
export type AdmissionSampler = () => Iterable<[routeClass: string, load: { running: number; queued: number }]>;

/** The transport a route class carries (spec vocabulary: http_sse, websocket; plain HTTP otherwise). */
export function transportOfRouteClass(routeClass: string): string {
  return routeClass === 'proxy_stream' ? 'http_sse' : routeClass === 'proxy_websocket' ? 'websocket' : 'http';
}

/**
 * Spec B7's admission family: a counter per event, wait histograms for dequeued and timed-out
 * requests, and running/queued gauges for every route class (idle ones included, as 0).
 */
function admissionMetrics(registry: Registry) {
  const counters = Object.fromEntries(
    ADMISSION_EVENTS.map((event) => [event, new Counter({ name: `codex_pooler_gateway_admission_${event}_count`, help: `Bulkhead admissions: ${event}`, labelNames: ['route_class', 'transport'], registers: [registry] })]),
  ) as Record<AdmissionEvent, Counter<'route_class' | 'transport'>>;
  const waits = {
    dequeued: new Histogram({ name: 'codex_pooler_gateway_admission_dequeued_time_seconds', help: 'Queue wait of requests admitted from the queue', labelNames: ['route_class', 'transport'], buckets: ADMISSION_WAIT_BUCKETS, registers: [registry] }),
    timeout: new Histogram({ name: 'codex_pooler_gateway_admission_timeout_time_seconds', help: 'Queue wait of requests that timed out', labelNames: ['route_class', 'transport'], buckets: ADMISSION_WAIT_BUCKETS, registers: [registry] }),
  };
  let sampler: AdmissionSampler | null = null;
  const sampled = (name: string, help: string, pick: (load: { running: number; queued: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['route_class'],
      registers: [registry],
      collect() {
        for (const [routeClass, load] of sampler?.() ?? []) this.set({ route_class: routeClass }, pick(load));
      },
    });
  sampled('codex_pooler_gateway_admission_running', 'Requests running per route class bulkhead', (load) => load.running);
  sampled('codex_pooler_gateway_admission_queued', 'Requests queued per route class bulkhead', (load) => load.queued);
  return {
    record(routeClass: string, event: AdmissionEvent, waitedMs?: number): void {
      const labels = { route_class: routeClass, transport: transportOfRouteClass(routeClass) };
      counters[event].inc(labels);
      if ((event === 'dequeued' || event === 'timeout') && waitedMs !== undefined) waits[event].observe(labels, waitedMs / 1000);
    },
    watch(next: AdmissionSampler): void {
      sampler = next;
    },
  };
}

export type StreamOutcome = 'succeeded' | 'failed' | 'interrupted';

/**
 * The process's metrics, in its own registry (no prom-client globals). Application names follow
 * the deployment spec; labels never carry ids, keys or account names.
 */
export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const metrics = {
    registry,
    endpointStopCount: new Counter({ name: 'phoenix_endpoint_stop_count', help: 'HTTP requests completed', registers: [registry] }),
    endpointStopDuration: new Histogram({ name: 'phoenix_endpoint_stop_duration_seconds', help: 'HTTP request duration', buckets: LATENCY_BUCKETS, registers: [registry] }),
    routerDispatchDuration: new Histogram({ name: 'phoenix_router_dispatch_stop_duration_seconds', help: 'Duration per route', labelNames: ['route'], buckets: LATENCY_BUCKETS, registers: [registry] }),
    httpRequestCount: new Counter({ name: 'codex_pooler_http_request_count', help: 'HTTP requests by method and status class', labelNames: ['method', 'status_class'], registers: [registry] }),
    httpRouteCount: new Counter({ name: 'codex_pooler_http_route_count', help: 'HTTP requests by route', labelNames: ['route', 'method', 'status_class'], registers: [registry] }),
    streamOutcomeCount: new Counter({ name: 'codex_pooler_gateway_stream_outcome_count', help: 'Relayed streams by outcome', labelNames: ['outcome', 'downstream_transport', 'upstream_transport'], registers: [registry] }),
    streamFinalizationCount: new Counter({ name: 'codex_pooler_gateway_stream_finalization_count', help: 'Stream usage finalization', labelNames: ['usage_status', 'usage_source', 'downstream_transport', 'upstream_transport'], registers: [registry] }),
    circuitTransitionCount: new Counter({ name: 'codex_pooler_gateway_routing_circuit_transition_count', help: 'Circuit breaker transitions', labelNames: ['transition', 'route_class', 'reason_class'], registers: [registry] }),
    failoverCount: new Counter({ name: 'codex_pooler_gateway_failover_count', help: 'Attempts abandoned for the next account, by reason', labelNames: ['reason'], registers: [registry] }),
    cooldownCount: new Counter({ name: 'codex_pooler_gateway_cooldown_count', help: 'Accounts put in cooldown, by reason', labelNames: ['reason'], registers: [registry] }),
    admission: admissionMetrics(registry),
    routingDecisionCount: new Counter({ name: 'codex_pooler_gateway_routing_decision_count', help: 'Routing decisions: how the first account was chosen, or why none was', labelNames: ['decision', 'strategy'], registers: [registry] }),
    activeStreams: new Gauge({ name: 'codex_pooler_gateway_active_streams', help: 'Streams currently relayed', labelNames: ['transport'], registers: [registry] }),
    /** Downstream websocket sessions open on this process: inc() when one is accepted, dec() when it closes. */
    activeWebsockets: new Gauge({ name: 'codex_pooler_gateway_active_websockets', help: 'Downstream websocket sessions currently open', registers: [registry] }),
    jobOutcomeCount: new Counter({ name: 'codex_pooler_job_outcome_count', help: 'Background job runs by job and outcome (succeeded, failed)', labelNames: ['job', 'outcome'], registers: [registry] }),
    jobDuration: new Histogram({ name: 'codex_pooler_job_duration_seconds', help: 'Background job run time', labelNames: ['job'], buckets: JOB_BUCKETS, registers: [registry] }),
    upstreamFirstByte: new Histogram({ name: 'codex_pooler_upstream_first_byte_seconds', help: 'Time to the upstream response headers', labelNames: ['route_class'], buckets: UPSTREAM_BUCKETS, registers: [registry] }),
    upstreamDuration: new Histogram({ name: 'codex_pooler_upstream_request_duration_seconds', help: 'Upstream attempt duration, whole body', labelNames: ['route_class', 'status_class'], buckets: UPSTREAM_BUCKETS, registers: [registry] }),
    websocketTurnCount: new Counter({ name: 'codex_pooler_gateway_websocket_turn_count', help: 'Websocket turns by surface and outcome', labelNames: ['surface', 'outcome'], registers: [registry] }),
    websocketCloseCount: new Counter({ name: 'codex_pooler_gateway_websocket_close_count', help: 'Client websocket closes by code', labelNames: ['code'], registers: [registry] }),
    ingressFirewallDenied: new Counter({ name: 'codex_pooler_ingress_firewall_denied_count', help: 'Runtime requests the ingress firewall refused, by reason (not_allowed, invalid_rule, invalid_forwarded_header)', labelNames: ['reason'], registers: [registry] }),
    websocketOwnerCount: new Counter({ name: 'codex_pooler_gateway_websocket_owner_count', help: 'Websocket session owner decisions (local, forwarded, takeover, owner_unavailable, owner_drained, stale_owner, peer_auth_failed, owner_crashed)', labelNames: ['decision'], registers: [registry] }),
    accounts: new Gauge({ name: 'codex_pooler_upstream_accounts', help: 'Upstream accounts by state', labelNames: ['state'], registers: [registry] }),
    quotaWindows: new Gauge({ name: 'codex_pooler_quota_windows', help: 'Account quota windows by kind and usage band', labelNames: ['window', 'band'], registers: [registry] }),
  };
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

export function statusClass(status: number | null | undefined): string {
  return typeof status === 'number' && status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'unknown';
}

/**
 * How the first account of a route plan was chosen: bound by a continuation, kept by session or
 * prompt-cache affinity, moved off the preferred account, or ranked by the pool's strategy alone.
 */
export function routingDecisionLabel(selection: { pinned: boolean; sticky: boolean; moved: boolean }): 'pinned' | 'affinity' | 'affinity_moved' | 'ranked' {
  if (selection.moved) return 'affinity_moved';
  if (selection.pinned) return 'pinned';
  return selection.sticky ? 'affinity' : 'ranked';
}
