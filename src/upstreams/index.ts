export { accountState, disableAccount, enableAccount, getAccount, importAuthJson, listAccounts, primeAccount, removeAccount, ROUTING_CHANNEL } from './accounts.ts';
export type { AccountDeps, AccountState, AccountView, ImportResult, QuotaWindowView } from './accounts.ts';
export { CredentialStore, CREDENTIALS_CHANNEL } from './credentials.ts';
export type { AccessCredentials, RefreshResult } from './credentials.ts';
export { QuotaRecorder, saveQuotaWindows } from './quota-store.ts';
export { buildUpstreamHeaders, createUpstreamAgent, CODEX_CLIENT_VERSION } from './upstream-http.ts';
export { modelEntriesFrom, saveCatalog } from './catalog.ts';
export { parseAuthJson } from './auth-json.ts';
export * from './quota-evidence.ts';
