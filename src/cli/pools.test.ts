import { InvalidArgumentError } from 'commander';
import { describe, expect, test } from 'vitest';
import { parseRingSize, routingEditFromFlags } from './pools.ts';

describe('pools routing flags', () => {
  test('no flags: an empty edit (the command only prints)', () => {
    expect(routingEditFromFlags({ json: true })).toEqual({});
  });

  test('each flag maps to its setting; on/off become booleans', () => {
    expect(
      routingEditFromFlags({ strategy: 'quota_first', ringSize: 5, stickyHttp: 'on', stickyWebsocket: 'off', promptCacheAffinity: 'off', v1: 'off', images: 'on' }),
    ).toEqual({
      routing_strategy: 'quota_first',
      bridge_ring_size: 5,
      sticky_http_sessions: true,
      sticky_websocket_sessions: false,
      prompt_cache_affinity_enabled: false,
      v1_compatibility_enabled: false,
      allow_image_generation: true,
    });
  });

  test.each(['0', '-1', '2.5', 'three', '101', ''])('--ring-size %j is a usage error', (value) => {
    expect(() => parseRingSize(value)).toThrow(InvalidArgumentError);
  });

  test('--ring-size accepts 1 to 100', () => {
    expect(parseRingSize('1')).toBe(1);
    expect(parseRingSize(' 100 ')).toBe(100);
  });
});
