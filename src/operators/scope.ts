import type { Actor, ActorContext } from '../audit/index.ts';
import { PoolerError } from '../errors.ts';
import type { PoolStatus } from '../pools/index.ts';
import type { OperatorRole } from './operator.table.ts';

/**
 * Who is calling, built once per request (admin API) or command (CLI): the operator, their role and
 * the Pools they may touch. Services and adapters take it first and ask `authorize` before acting.
 */
export type OperatorScope = {
  kind: 'operator';
  userId: string;
  email: string;
  displayName: string | null;
  role: OperatorRole;
  /** Admins: active assignments with the Pool's status. Owners: empty (they reach every Pool). */
  assignedPools: ReadonlyMap<string, PoolStatus>;
  sessionId: string | null;
  context: ActorContext;
};

/** The host's own operator (CLI, jobs): every capability, no session. */
export type SystemScope = { kind: 'system'; label: string; context: ActorContext };

export type Scope = OperatorScope | SystemScope;

/**
 * Capabilities of spec §4.4. Pool-bound ones need the Pool (`{id, status}`) they act on.
 * - `pool.manage`: create, rename, change status, delete Pools (owner only).
 * - `pool.operate`: upstream accounts of a Pool (owner: any active Pool; admin: assigned active Pools).
 * - `pool_api_key.manage`: Pool API keys (same reach as `pool.operate`).
 * - `pool.view`: see a Pool, its accounts, keys, request logs, usage and audit (owner: every Pool
 *   including archived; admin: assigned Pools that are active or disabled).
 * - `operator.manage`, `instance_settings.manage`: owner only.
 * - `audit.view_global`: audit events that belong to no Pool (owner only).
 */
export type Capability = 'pool.manage' | 'pool.operate' | 'pool_api_key.manage' | 'pool.view' | 'operator.manage' | 'instance_settings.manage' | 'audit.view_global';

export type PoolRef = { id: string; status: PoolStatus };

const POOL_BOUND = new Set<Capability>(['pool.operate', 'pool_api_key.manage', 'pool.view']);
const OWNER_ONLY = new Set<Capability>(['pool.manage', 'operator.manage', 'instance_settings.manage', 'audit.view_global']);

export const isOwner = (scope: Scope): boolean => scope.kind === 'system' || scope.role === 'instance_owner';

const reachesPool = (scope: Scope, poolId: string): boolean => isOwner(scope) || (scope as OperatorScope).assignedPools.has(poolId);

/** Answers without throwing; `authorize` is the form every caller uses. */
export function can(scope: Scope, capability: Capability, pool?: PoolRef): boolean {
  if (!POOL_BOUND.has(capability)) return isOwner(scope) || !OWNER_ONLY.has(capability);
  if (!pool || !reachesPool(scope, pool.id)) return false;
  if (capability === 'pool.view') return isOwner(scope) || pool.status !== 'archived';
  return pool.status === 'active';
}

/**
 * The one permission check (spec §4.4). Throws `capability_denied` (403) when the role does not
 * allow the action, `pool_not_found` (404) when the Pool is within reach but not active.
 */
export function authorize(scope: Scope, capability: Capability, pool?: PoolRef): void {
  if (can(scope, capability, pool)) return;
  if (pool && reachesPool(scope, pool.id) && capability !== 'pool.view') {
    throw new PoolerError('pool_not_found', `pool is ${pool.status}; only active pools can be changed`, { param: 'pool_id' });
  }
  throw new PoolerError('capability_denied', capabilityMessage(capability));
}

function capabilityMessage(capability: Capability): string {
  switch (capability) {
    case 'pool.manage':
      return 'only an instance owner can create, rename or delete pools';
    case 'operator.manage':
      return 'only an instance owner can manage operators';
    case 'instance_settings.manage':
      return 'only an instance owner can change instance settings';
    case 'audit.view_global':
      return 'only an instance owner can see audit events outside pools';
    default:
      return 'this pool is not assigned to you';
  }
}

/** Pools whose data the scope may read: `null` means every Pool (and events outside Pools). */
export function readablePoolIds(scope: Scope): string[] | null {
  if (isOwner(scope)) return null;
  const operator = scope as OperatorScope;
  return [...operator.assignedPools].filter(([, status]) => status !== 'archived').map(([id]) => id);
}

/** The audit actor for a scope, carrying the request's IP and id. */
export function actorOf(scope: Scope): Actor {
  if (scope.kind === 'system') return { type: 'system', label: scope.label, context: scope.context };
  return { type: 'user', userId: scope.userId, label: scope.email, context: scope.context };
}

export function systemScope(label = 'cli'): SystemScope {
  return { kind: 'system', label, context: { ipAddress: null, correlationId: null } };
}
