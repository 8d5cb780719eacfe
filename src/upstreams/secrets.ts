import { openSecret, sealSecret, SECRET_ALGORITHM, type Keyring } from '../crypto/index.ts';
import type { Db, Tx } from '../db/index.ts';
import type { SecretKind } from './account.table.ts';

const KEY_ENV = 'CODEX_POOLER_UPSTREAM_SECRET_KEY';

function aadFor(identityId: string, kind: SecretKind, keyVersion: string): Record<string, string> {
  return { algorithm: SECRET_ALGORITHM, key_env: KEY_ENV, upstream_identity_id: identityId, secret_kind: kind, key_version: keyVersion };
}

/** Stores a secret, superseding the active one of the same kind in the same transaction. */
export async function storeSecret(tx: Tx, keyring: Keyring, identityId: string, kind: SecretKind, plaintext: string): Promise<void> {
  const sealed = sealSecret(keyring, plaintext, aadFor(identityId, kind, keyring.currentVersion));
  const now = new Date();
  await tx
    .updateTable('encrypted_secrets')
    .set({ status: 'superseded', superseded_at: now, updated_at: now })
    .where('upstream_identity_id', '=', identityId)
    .where('secret_kind', '=', kind)
    .where('status', '=', 'active')
    .execute();
  await tx
    .insertInto('encrypted_secrets')
    .values({ upstream_identity_id: identityId, secret_kind: kind, key_version: sealed.keyVersion, ciphertext: sealed.ciphertext, nonce: sealed.nonce, aad: JSON.stringify(sealed.aad) as unknown as Record<string, string>, superseded_at: null })
    .execute();
}

export type ActiveSecrets = Partial<Record<SecretKind, string>>;

/** Decrypts the active secrets of an identity (any configured key version). */
export async function readSecrets(db: Db | Tx, keyring: Keyring, identityId: string, kinds: SecretKind[]): Promise<ActiveSecrets> {
  const rows = await db
    .selectFrom('encrypted_secrets')
    .select(['secret_kind', 'key_version', 'ciphertext', 'nonce', 'aad'])
    .where('upstream_identity_id', '=', identityId)
    .where('status', '=', 'active')
    .where('secret_kind', 'in', kinds)
    .execute();
  const out: ActiveSecrets = {};
  for (const row of rows) {
    out[row.secret_kind] = openSecret(keyring, { keyVersion: row.key_version, nonce: row.nonce, ciphertext: row.ciphertext, aad: row.aad }, aadFor(identityId, row.secret_kind, row.key_version));
  }
  return out;
}
