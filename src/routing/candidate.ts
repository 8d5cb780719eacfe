import type { AccountStatus } from '../upstreams/account.table.ts';

/** One upstream account as routing sees it: a snapshot, no I/O behind it. */
export type Candidate = {
  assignmentId: string;
  identityId: string;
  poolId: string;
  label: string;
  email: string | null;
  plan: string | null;
  chatgptAccountId: string | null;
  assignmentStatus: AccountStatus;
  identityStatus: AccountStatus;
  eligibility: 'eligible' | 'ineligible';
  cooldownUntil: number | null;
  quota: {
    primaryUsedPercent: number | null;
    primaryResetAt: number | null;
    secondaryUsedPercent: number | null;
    secondaryResetAt: number | null;
    observedAt: number | null;
  };
  lastSuccessAt: number | null;
  /** Models this account advertised (lowercase); null while unknown, and then every model passes. */
  models: ReadonlySet<string> | null;
};

export type IneligibleReason = 'disabled' | 'reauth_required' | 'credentials_unusable' | 'cooling_down' | 'quota_exhausted' | 'model_unsupported' | 'circuit_open' | 'excluded';
