export { createPool, deletePool, findPool, listPools, renamePool, setPoolStatus, slugFromName } from './service.ts';
export type { Pool, PoolSummary } from './service.ts';
export type { PoolStatus, RoutingStrategy } from './pool.table.ts';
export { applyRoutingEdit, DEFAULT_POOL_ROUTING, getPoolRouting, MAX_BRIDGE_RING_SIZE, parseRoutingEdit, ROUTING_FIELDS, ROUTING_STRATEGIES, routingOfPool, updatePoolRouting } from './routing-settings.ts';
export type { PoolRouting, PoolRoutingEdit, RoutingUpdate } from './routing-settings.ts';
