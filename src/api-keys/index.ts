export { API_KEY_CHANNEL, apiKeyRefColumn, listApiKeys, mintApiKey, parseExpiry, toApiKey } from './service.ts';
export { deleteApiKey, parseApiKeyEdit, pauseApiKey, planStatusChange, resumeApiKey, revokeApiKey, rotateApiKey, setApiKeyStatus, updateApiKey, MAX_NOTES_LENGTH } from './lifecycle.ts';
export type { ApiKeyDeps, ApiKeyEdit, StatusChange } from './lifecycle.ts';
export type { ApiKey, MintedApiKey } from './service.ts';
export { ApiKeyCache } from './key-cache.ts';
export type { AuthenticatedKey, KeySurface } from './key-cache.ts';
