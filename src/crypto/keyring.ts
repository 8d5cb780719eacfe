// Versioned AES keys. Every envelope records the version that sealed it, so a
// keyring maps version labels to keys and names which one seals new data
// (spec §13 "Key versions select keys").

const KEY_BYTES = 32;
// Standard or URL-safe alphabet, optional padding; Node's decoder silently skips
// junk, so we validate the shape before trusting the decoded length.
const BASE64_SHAPE = /^[A-Za-z0-9+/_-]+={0,2}$/;
const VERSION_SHAPE = /^[A-Za-z0-9._-]{1,64}$/;

export class ConfigKeyError extends Error {
  readonly variable: string;

  constructor(variable: string, message?: string) {
    super(message ?? `${variable} must be 32 raw bytes or base64-encoded 32 bytes`);
    this.name = 'ConfigKeyError';
    this.variable = variable;
  }
}

export type Keyring = {
  currentVersion: string;
  keys: ReadonlyMap<string, Buffer>;
};

/**
 * Accepts a key used as-is when it is exactly 32 UTF-8 bytes, otherwise
 * base64/base64url that decodes to exactly 32 bytes. The error names the
 * variable but never echoes the value.
 */
export function parseKeyMaterial(name: string, value: string): Buffer {
  if (Buffer.byteLength(value, 'utf8') === KEY_BYTES) return Buffer.from(value, 'utf8');

  const trimmed = value.trim();
  if (trimmed.length === 0 || !BASE64_SHAPE.test(trimmed)) throw new ConfigKeyError(name);
  const decoded = Buffer.from(trimmed, 'base64');
  if (decoded.length !== KEY_BYTES) throw new ConfigKeyError(name);
  return decoded;
}

function assertVersion(variable: string, version: string): void {
  if (!VERSION_SHAPE.test(version)) {
    throw new ConfigKeyError(variable, `${variable} has an invalid key version label (use 1-64 of A-Z a-z 0-9 . _ -)`);
  }
}

/**
 * Builds a keyring from the current key plus an optional list of earlier keys
 * in the form `v1:<base64>,v0:<base64>`. `previousEnvName` is the variable the
 * list came from, so configuration errors point at the right setting
 * (`current.versionEnvName` does the same for the current version label).
 */
export function createKeyring(
  current: { version: string; key: Buffer; versionEnvName?: string },
  previous?: string,
  previousEnvName = 'CODEX_POOLER_UPSTREAM_SECRET_KEYS_PREVIOUS',
): Keyring {
  const currentVariable = current.versionEnvName ?? 'CODEX_POOLER_UPSTREAM_SECRET_KEY_VERSION';
  assertVersion(currentVariable, current.version);
  if (current.key.length !== KEY_BYTES) {
    throw new ConfigKeyError(currentVariable, `current key for version ${current.version} must be 32 bytes`);
  }

  const keys = new Map<string, Buffer>([[current.version, current.key]]);
  const entries = (previous ?? '').split(',').map((e) => e.trim()).filter((e) => e.length > 0);

  entries.forEach((entry, index) => {
    const colon = entry.indexOf(':');
    if (colon <= 0 || colon === entry.length - 1) {
      throw new ConfigKeyError(previousEnvName, `${previousEnvName} entry ${index + 1} must look like <version>:<base64 key>`);
    }
    const version = entry.slice(0, colon);
    assertVersion(previousEnvName, version);
    const key = parseKeyMaterial(previousEnvName, entry.slice(colon + 1));

    const existing = keys.get(version);
    // Repeating the current key under its own label is harmless; two different
    // keys under one label would make decryption ambiguous.
    if (existing && !existing.equals(key)) {
      throw new ConfigKeyError(previousEnvName, `${previousEnvName} lists key version ${version} with conflicting key material`);
    }
    keys.set(version, key);
  });

  return { currentVersion: current.version, keys };
}
