import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5];
const UPSTREAM_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

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
    admissionCount: new Counter({ name: 'codex_pooler_gateway_admission_count', help: 'Admission outcomes per route class', labelNames: ['route_class', 'outcome'], registers: [registry] }),
    routingDecisionCount: new Counter({ name: 'codex_pooler_gateway_routing_decision_count', help: 'Routing decisions', labelNames: ['decision'], registers: [registry] }),
    activeStreams: new Gauge({ name: 'codex_pooler_gateway_active_streams', help: 'Streams currently relayed', labelNames: ['transport'], registers: [registry] }),
    upstreamFirstByte: new Histogram({ name: 'codex_pooler_upstream_first_byte_seconds', help: 'Time to the upstream response headers', labelNames: ['route_class'], buckets: UPSTREAM_BUCKETS, registers: [registry] }),
    upstreamDuration: new Histogram({ name: 'codex_pooler_upstream_request_duration_seconds', help: 'Upstream attempt duration, whole body', labelNames: ['route_class', 'status_class'], buckets: UPSTREAM_BUCKETS, registers: [registry] }),
    accounts: new Gauge({ name: 'codex_pooler_upstream_accounts', help: 'Upstream accounts by state', labelNames: ['state'], registers: [registry] }),
    quotaWindows: new Gauge({ name: 'codex_pooler_quota_windows', help: 'Account quota windows by kind and usage band', labelNames: ['window', 'band'], registers: [registry] }),
  };
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;

export function statusClass(status: number | null | undefined): string {
  return typeof status === 'number' && status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'unknown';
}
