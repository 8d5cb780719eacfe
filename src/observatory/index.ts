export { registerObservatoryPages, OBSERVATORY_COOKIE } from './routes.ts';
export { observatoryKeyOf, setDashboardAccess, signInWithKey, signOut, MAX_SESSIONS_PER_KEY, OBSERVATORY_LOGIN_FAILED, OBSERVATORY_SESSION_MS } from './sessions.ts';
export type { ObservatorySession } from './sessions.ts';
export type { ObservatoryTables } from './observatory.table.ts';
