export type { Candidate, IneligibleReason } from './candidate.ts';
export { describeNoEligibleAccount, ineligibleReason, knownUsage, selectAccount } from './select-account.ts';
export type { Selection, SelectionRequest } from './select-account.ts';
export { RoutingState } from './routing-state.ts';
export type { PoolCatalog } from './routing-state.ts';
