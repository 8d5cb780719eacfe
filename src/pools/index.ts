export { createPool, deletePool, findPool, listPools, renamePool, setPoolStatus, slugFromName } from './service.ts';
export type { Pool, PoolSummary } from './service.ts';
export type { PoolStatus, RoutingStrategy } from './pool.table.ts';
