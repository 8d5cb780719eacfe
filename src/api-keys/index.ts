export { API_KEY_CHANNEL, apiKeyRefColumn, listApiKeys, mintApiKey, parseExpiry, revokeApiKey, toApiKey } from './service.ts';
export type { ApiKey, MintedApiKey } from './service.ts';
export { ApiKeyCache } from './key-cache.ts';
export type { AuthenticatedKey, KeySurface } from './key-cache.ts';
