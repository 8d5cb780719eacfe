// The read side of the request log (written by the gateway): listing and the live view. Usage and
// cost come from the ledger (src/accounting usageReport).
export { listRequestLogs, requestLogsWrittenSince, toRequestLogView } from './query.ts';
export type { RequestLogFilter, RequestLogPage, RequestLogView, RequestLogVisibility } from './query.ts';
