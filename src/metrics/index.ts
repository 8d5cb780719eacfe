export { createMetrics, routingDecisionLabel, statusClass, transportOfRouteClass } from './registry.ts';
export type { AdmissionEvent, AdmissionSampler, Metrics, StreamOutcome } from './registry.ts';
export { registerMetricsRoute } from './metrics-route.ts';
export { createMetricsAccessSource } from './metrics-access.ts';
export type { MetricsAccess, MetricsAccessSource } from './metrics-access.ts';
export { changeMetricsToken, readMetricsProtection } from './metrics-protection.ts';
export type { MetricsProtection, MetricsProtectionDeps, MetricsTokenRequest } from './metrics-protection.ts';
export { generateMetricsToken, metricsTokenDigest, metricsTokenFingerprint, readMetricsBearer, setMetricsBearer } from './metrics-bearer.ts';
export type { MetricsBearerChange, MetricsBearerRecord } from './metrics-bearer.ts';
