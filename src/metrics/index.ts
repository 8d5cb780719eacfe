export { createMetrics, statusClass } from './registry.ts';
export type { Metrics, StreamOutcome } from './registry.ts';
export { metricsTokenDigest, registerMetricsRoute } from './metrics-route.ts';
export type { MetricsAccess } from './metrics-route.ts';
