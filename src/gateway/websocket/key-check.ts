import type { Logger } from 'pino';
import type { AuthenticatedKey, KeySurface } from '../../api-keys/index.ts';
import { PoolerError } from '../../errors.ts';
import type { ClientContext } from './turn-deps.ts';

/**
 * What re-checking an open socket's Pool API key found: the key as it is now (its model policy
 * included, so a restriction reaches the next turn), a refusal (the socket closes 1008), or nothing
 * (the check itself failed, e.g. PostgreSQL unreachable on a cache miss: the socket stays open).
 */
export type KeyCheck = { status: 'active'; key: AuthenticatedKey } | { status: 'inactive' } | { status: 'unverified' };

export type KeyAuthenticator = { authenticate(authorization: string | undefined, surface: KeySurface): Promise<AuthenticatedKey> };

/**
 * Pure: the authentication result of a socket's key → the check's outcome. Only a refusal of the
 * key (a PoolerError) ends the socket; a key moved to another pool no longer owns the sessions it
 * opened in the old one, and a /v1 socket stops with the pool's /v1 compatibility. Any other failure
 * says nothing about the key: a database hiccup must not close every socket of the process at once.
 */
export function keyCheckOf(client: Pick<ClientContext, 'key' | 'surface'>, result: { key: AuthenticatedKey } | { error: unknown }): KeyCheck {
  if ('error' in result) return result.error instanceof PoolerError ? { status: 'inactive' } : { status: 'unverified' };
  const { key } = result;
  if (key.poolId !== client.key.poolId || (client.surface === 'v1' && !key.v1Enabled)) return { status: 'inactive' };
  return { status: 'active', key };
}

/**
 * Re-checks a socket's key on the surface it connected to: a key cache read (PostgreSQL only after
 * the entry was dropped or expired). A forwarded session's key (no Authorization here) is checked by
 * the replica the client reached, which sends the fresh key with every turn.
 */
export async function checkClientKey(authenticator: KeyAuthenticator, log: Logger, client: ClientContext): Promise<KeyCheck> {
  if (client.authorization === null) return { status: 'active', key: client.key };
  let result: { key: AuthenticatedKey } | { error: unknown };
  try {
    result = { key: await authenticator.authenticate(client.authorization, client.surface) };
  } catch (error) {
    result = { error };
  }
  const check = keyCheckOf(client, result);
  if (check.status === 'unverified') {
    // The error comes from the key lookup (by prefix), never from the presented secret.
    log.warn({ err: 'error' in result ? result.error : null, apiKeyId: client.key.id }, 'websocket key re-check failed; the socket stays open');
  }
  return check;
}
