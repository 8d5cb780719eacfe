export { ConfigKeyError, createKeyring, parseKeyMaterial } from './keyring.ts';
export type { Keyring } from './keyring.ts';
export {
  canonicalJson,
  openJsonEnvelope,
  openSecret,
  parseJsonEnvelope,
  sealJsonEnvelope,
  sealSecret,
  SECRET_ALGORITHM,
  SecretBoxError,
  serializeJsonEnvelope,
} from './secret-box.ts';
export type { SealedSecret, SecretBoxErrorCode } from './secret-box.ts';
export {
  base32Encode,
  digestMatches,
  MCP_TOKEN_PATTERN,
  MCP_TOKEN_SCHEME,
  mintMcpToken,
  mintOpaqueToken,
  mintPoolApiKey,
  mintRecoveryCode,
  mintSchemeKey,
  mintTemporaryPassword,
  OPAQUE_TOKEN_PATTERN,
  opaqueTokenDigest,
  parsePresentedKey,
  parsePresentedMcpToken,
  POOL_API_KEY_PATTERN,
  POOL_API_KEY_SCHEME,
  RECOVERY_CODE_PATTERN,
  recoveryCodeDigest,
  sha256,
  sha256Hex,
} from './tokens.ts';
export type { MintedKey, PresentedKey } from './tokens.ts';
export {
  dummyVerify,
  hashPassword,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  validatePasswordPolicy,
  verifyPassword,
} from './passwords.ts';
export { generateTotpSecret, openTotpSecret, sealTotpSecret, totpTimeStep, totpUri, verifyTotpCode } from './totp.ts';
export { deriveKey, signPayload, verifySignature } from './hmac.ts';
