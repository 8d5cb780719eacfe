import { PoolerError } from '../../errors.ts';
import { invalidRequest } from './request-error.ts';
import { isNonBlank, isObject, type JsonObject } from './json.ts';

/**
 * Replays of earlier output items on `/v1/responses` (pure). Clients that rely on stored responses
 * (the Vercel AI SDK with its default `store: true`) send `{"type":"item_reference","id":…}` for
 * items an earlier answer carried; the upstream runs with `store: false` and cannot resolve them, so
 * the gateway swaps in the items it relayed (looked up through `lookup`). Reasoning only replays
 * with its `encrypted_content`, which the gateway asks for upstream and hides from clients that did
 * not ask for it themselves.
 */

export type ItemLookup = (itemId: string) => JsonObject | undefined;

export const ENCRYPTED_REASONING = 'reasoning.encrypted_content';

export function itemReferenceNotFound(itemId: string, index: number): PoolerError {
  return new PoolerError(
    'item_reference_not_found',
    `Item with id '${itemId}' not found. The gateway keeps the output items it relayed for one hour, on the replica that served them; ` +
      'send the item itself instead of a reference, or set store: false for long-lived conversations.',
    { param: `input[${index}].id` },
  );
}

/**
 * `input` with every `item_reference` replaced by the item it names, and replayed reasoning items
 * that lack `encrypted_content` given the stored one. Anything that is not an input array is
 * returned as is (translation validates it). Throws 400 `item_reference_not_found` for a reference
 * `lookup` does not know: the upstream could not resolve it either.
 */
export function expandReplayedItems(input: unknown, lookup: ItemLookup): unknown {
  if (!Array.isArray(input)) return input;
  return input.map((item: unknown, i) => {
    if (!isObject(item)) return item;
    if (item.type === 'item_reference') {
      if (!isNonBlank(item.id)) throw invalidRequest('item_reference needs an id', `input[${i}].id`);
      const stored = lookup(item.id);
      if (stored === undefined) throw itemReferenceNotFound(item.id, i);
      return stored;
    }
    if (item.type === 'reasoning' && isNonBlank(item.id) && !isNonBlank(item.encrypted_content)) {
      const stored = lookup(item.id);
      if (stored?.type === 'reasoning' && isNonBlank(stored.encrypted_content)) return { ...item, encrypted_content: stored.encrypted_content };
    }
    return item;
  });
}

/** The upstream body asking for encrypted reasoning; `added` when the client had not asked for it. */
export function requestEncryptedReasoning(body: JsonObject): { body: JsonObject; added: boolean } {
  const include = Array.isArray(body.include) ? (body.include as unknown[]) : [];
  if (include.includes(ENCRYPTED_REASONING)) return { body, added: false };
  return { body: { ...body, include: [...include, ENCRYPTED_REASONING] }, added: true };
}

function withoutEncryptedContent(item: unknown): unknown {
  if (!isObject(item) || item.type !== 'reasoning' || !('encrypted_content' in item)) return item;
  const { encrypted_content: _hidden, ...rest } = item;
  return rest;
}

function outputWithout(output: unknown): unknown {
  if (!Array.isArray(output)) return output;
  const next = output.map(withoutEncryptedContent);
  return next.some((item, i) => item !== output[i]) ? next : output;
}

/**
 * An upstream event's data without `encrypted_content` on reasoning items (in `item`,
 * `response.output`, or a typeless response's own `output`), so a client that did not ask for it
 * sees what it would have without the gateway's include. Returns `data` itself when nothing changed.
 */
export function hideEncryptedReasoning(data: JsonObject): JsonObject {
  let out = data;
  const item = withoutEncryptedContent(data.item);
  if (item !== data.item) out = { ...out, item };
  if (isObject(data.response)) {
    const output = outputWithout(data.response.output);
    if (output !== data.response.output) out = { ...out, response: { ...data.response, output } };
  }
  const output = outputWithout(data.output);
  if (output !== data.output) out = { ...out, output };
  return out;
}
