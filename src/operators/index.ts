export { bootstrapOwner, bootstrapStatus, EMAIL_SCHEMA } from './bootstrap.ts';
export type { BootstrapResult, BootstrapStatus } from './bootstrap.ts';
export { actorOf, authorize, can, isOwner, readablePoolIds, systemScope } from './scope.ts';
export type { Capability, OperatorScope, PoolRef, Scope, SystemScope } from './scope.ts';
export {
  csrfTokenFor,
  csrfTokenMatches,
  listOwnSessions,
  loadScope,
  nowOf,
  openSession,
  PENDING_MFA_TTL_MS,
  resolveSession,
  revokeOperatorSessions,
  revokeSession,
  SESSION_TTL_MS,
} from './sessions.ts';
export type { AuthDeps, ClientContext, IssuedSession, SessionView, SignedInSession } from './sessions.ts';
export { completeTotpStep, login } from './login.ts';
export type { LoginDeps, LoginOutcome } from './login.ts';
export { DEFAULT_LOGIN_LIMITS } from './login-throttle.ts';
export type { LoginLimits } from './login-throttle.ts';
export { beginTotpEnrollment, confirmTotpEnrollment, disableOwnTotp, resetOperatorTotp, totpState } from './totp.ts';
export type { TotpEnrollment, TotpState } from './totp.ts';
export { changeOwnPassword } from './passwords.ts';
export { getOperator, listOperators } from './operator-directory.ts';
export type { OperatorView } from './operator-directory.ts';
export { createOperator, deactivateOperator, reactivateOperator, resetOperatorPassword, updateOperator } from './operator-admin.ts';
export type { OperatorWithPassword } from './operator-admin.ts';
export type { OperatorRole } from './operator.table.ts';
