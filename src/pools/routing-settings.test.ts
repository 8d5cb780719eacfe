import { describe, expect, test } from 'vitest';
import { PoolerError } from '../errors.ts';
import { applyRoutingEdit, DEFAULT_POOL_ROUTING, parseRoutingEdit } from './routing-settings.ts';

function refusal(raw: unknown): { code: string; param: string | null; message: string } {
  try {
    parseRoutingEdit(raw);
  } catch (error) {
    if (error instanceof PoolerError) return { code: error.code, param: error.param ?? null, message: error.message };
    throw error;
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`);
}

describe('parseRoutingEdit', () => {
  test('absent fields stay absent; every field can be given', () => {
    expect(parseRoutingEdit({})).toEqual({});
    expect(parseRoutingEdit(undefined)).toEqual({});
    expect(parseRoutingEdit({ routing_strategy: 'quota_first' })).toEqual({ routing_strategy: 'quota_first' });
    const all = { ...DEFAULT_POOL_ROUTING, routing_strategy: 'least_recent_success', bridge_ring_size: 7, v1_compatibility_enabled: false, allow_image_generation: false };
    expect(parseRoutingEdit(all)).toEqual(all);
  });

  test.each([
    ['an unknown strategy', { routing_strategy: 'round_robin' }, 'routing_strategy', /one of bridge_ring, deterministic_rotation, least_recent_success, quota_first/],
    ['a ring of 0', { bridge_ring_size: 0 }, 'bridge_ring_size', /at least 1/],
    ['a fractional ring', { bridge_ring_size: 2.5 }, 'bridge_ring_size', /whole number/],
    ['a ring as text', { bridge_ring_size: '3' }, 'bridge_ring_size', /whole number/],
    ['a huge ring', { bridge_ring_size: 1_000_000 }, 'bridge_ring_size', /at most 100/],
    ['a flag as text', { sticky_http_sessions: 'yes' }, 'sticky_http_sessions', /true or false/],
    ['a null flag', { v1_compatibility_enabled: null }, 'v1_compatibility_enabled', /true or false/],
    ['an unknown field', { colour: 'blue' }, 'colour', /not a routing setting/],
    ['enabling request compression', { request_compression_enabled: true }, 'request_compression_enabled', /not supported by this gateway/],
  ])('refuses %s, naming the field', (_name, raw, param, message) => {
    const error = refusal(raw);
    expect(error.code).toBe('invalid_request');
    expect(error.param).toBe(param);
    expect(error.message).toMatch(message);
  });

  test('request compression may be (kept) off', () => {
    expect(parseRoutingEdit({ request_compression_enabled: false })).toEqual({ request_compression_enabled: false });
  });
});

describe('applyRoutingEdit', () => {
  test('reports only the fields whose value changes', () => {
    const { next, changed } = applyRoutingEdit(DEFAULT_POOL_ROUTING, { routing_strategy: 'bridge_ring', bridge_ring_size: 5, allow_image_generation: false });
    expect(changed).toEqual(['bridge_ring_size', 'allow_image_generation']);
    expect(next).toEqual({ ...DEFAULT_POOL_ROUTING, bridge_ring_size: 5, allow_image_generation: false });
  });

  test('an edit of equal values changes nothing and leaves the input untouched', () => {
    const current = { ...DEFAULT_POOL_ROUTING };
    expect(applyRoutingEdit(current, { ...DEFAULT_POOL_ROUTING })).toEqual({ next: DEFAULT_POOL_ROUTING, changed: [] });
    expect(current).toEqual(DEFAULT_POOL_ROUTING);
  });
});

test('defaults are the spec defaults (acceptance 18)', () => {
  expect(DEFAULT_POOL_ROUTING).toEqual({
    routing_strategy: 'bridge_ring',
    bridge_ring_size: 3,
    sticky_websocket_sessions: true,
    sticky_http_sessions: false,
    prompt_cache_affinity_enabled: true,
    v1_compatibility_enabled: true,
    request_compression_enabled: false,
    allow_image_generation: true,
  });
});
