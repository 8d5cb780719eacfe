// The read side of the request log (written by the gateway): listing, the live view, usage totals.
export { listRequestLogs, requestLogsWrittenSince, toRequestLogView } from './query.ts';
export type { RequestLogFilter, RequestLogPage, RequestLogView, RequestLogVisibility } from './query.ts';
export { usageSummary } from './usage.ts';
export type { UsageGrouping, UsageRow, UsageSummary } from './usage.ts';
