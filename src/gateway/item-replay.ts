import type { RelayedItemMemory } from './client-relay.ts';
import type { ReplayedItemStore } from './item-store.ts';
import { expandReplayedItems, requestEncryptedReasoning, type JsonObject } from './translate/index.ts';

/**
 * The thin step around `/v1/responses` translation that makes `item_reference` replays work
 * (docs/clients.md "Vercel AI SDK"): before translation, references are resolved from the items
 * this process relayed to the same Pool API key; after it, the upstream body asks for encrypted
 * reasoning and the relay learns what to keep and what to hide. Used by the HTTP route and the
 * `/v1/responses` websocket codec (src/gateway/websocket/codecs.ts), which share one store.
 */

/** The client's body with its replayed items resolved; throws 400 `item_reference_not_found`. */
export function withReplayedItems(store: ReplayedItemStore, apiKeyId: string, body: unknown): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const client = body as JsonObject;
  if (!Array.isArray(client.input)) return body;
  return { ...client, input: expandReplayedItems(client.input, (itemId) => store.lookup(apiKeyId, itemId)) };
}

/**
 * The translated body to send upstream and what its relay should remember. A client that set
 * `store: false` replays items inline and never by reference, and a store with no budget keeps
 * nothing: then nothing is kept and nothing changes.
 */
export function rememberingRelayedItems(store: ReplayedItemStore, apiKeyId: string, clientBody: unknown, translated: JsonObject): { body: JsonObject; memory: RelayedItemMemory | null } {
  if ((clientBody as JsonObject | null)?.store === false || !store.enabled) return { body: translated, memory: null };
  const asked = requestEncryptedReasoning(translated);
  return { body: asked.body, memory: { remember: (item) => store.remember(apiKeyId, item), hideEncryptedReasoning: asked.added } };
}
