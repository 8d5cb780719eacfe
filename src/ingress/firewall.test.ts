import { describe, expect, test } from 'vitest';
import { defaultInstanceSettings } from '../settings/index.ts';
import { checkIngress, compileRules, isRuntimePath, normalizeAddress, resolveClientIp, type IngressSettings, type RequestHeaders } from './firewall.ts';

const settings = (patch: Partial<IngressSettings> = {}): IngressSettings => ({ ...defaultInstanceSettings().ingress, ...patch });

describe('normalizeAddress', () => {
  test.each([
    ['10.1.2.3', '10.1.2.3'],
    [' 10.1.2.3 ', '10.1.2.3'],
    ['10.1.2.3:5678', '10.1.2.3'],
    ['::1', '::1'],
    ['[2001:DB8::1]:443', '2001:db8::1'],
    ['[::1]', '::1'],
    ['::ffff:192.0.2.5', '192.0.2.5'],
    ['::FFFF:c000:0205', '192.0.2.5'],
    ['example.com', null],
    ['10.1.2', null],
    ['10.1.2.300', null],
    ['unknown', null],
    ['', null],
    [`1.2.3.4${' '.repeat(2)}x`, null],
    ['1'.repeat(65), null],
  ])('%j → %j', (input, expected) => {
    expect(normalizeAddress(input)).toBe(expected);
  });
});

describe('compileRules', () => {
  test.each([
    [['10.0.0.0/8'], '10.200.1.1', true],
    [['10.0.0.0/8'], '11.0.0.1', false],
    [['192.0.2.5'], '192.0.2.5', true],
    [['192.0.2.5'], '192.0.2.6', false],
    [['2001:db8::/32'], '2001:db8:1::5', true],
    [['2001:db8::/32'], '2001:db9::5', false],
    [['::1'], '::1', true],
    [['::ffff:10.0.0.0/104'], '10.9.9.9', true],
    [['0.0.0.0/0'], '203.0.113.9', true],
  ])('%j admits %s: %s', (rules, address, expected) => {
    const list = compileRules(rules)!;
    expect(list.check(address, address.includes(':') ? 'ipv6' : 'ipv4')).toBe(expected);
  });

  test.each([[['10.0.0.0/33']], [['::/129']], [['10.0.0.0/8/1']], [['example.com']], [['10.0.0.0/x']], [['10.0.0.1:80']], [['10.0.0.0/8', 'nonsense']]])('%j is not a valid rule list', (rules) => {
    expect(compileRules(rules)).toBeNull();
  });
});

describe('resolveClientIp', () => {
  const proxied = settings({ trusted_proxies: ['127.0.0.1/32', '10.9.0.0/16'] });
  test.each<[string, string | undefined, RequestHeaders, IngressSettings, string | null, boolean]>([
    ['no proxies: the peer', '192.0.2.5', { 'x-forwarded-for': '10.1.2.3' }, settings(), '192.0.2.5', true],
    ['untrusted peer: forged XFF ignored', '192.0.2.5', { 'x-forwarded-for': '10.1.2.3' }, proxied, '192.0.2.5', true],
    ['trusted peer: rightmost untrusted XFF entry', '127.0.0.1', { 'x-forwarded-for': '203.0.113.7, 10.1.2.3' }, proxied, '10.1.2.3', true],
    ['trusted peer: trusted hops skipped', '127.0.0.1', { 'x-forwarded-for': '203.0.113.7, 10.9.1.1' }, proxied, '203.0.113.7', true],
    ['trusted peer: all hops trusted → leftmost', '127.0.0.1', { 'x-forwarded-for': '10.9.1.2, 10.9.1.1' }, proxied, '10.9.1.2', true],
    ['trusted peer without XFF: the peer', '127.0.0.1', {}, proxied, '127.0.0.1', true],
    ['repeated XFF headers read as one list', '127.0.0.1', { 'x-forwarded-for': ['203.0.113.7', '10.9.1.1'] }, proxied, '203.0.113.7', true],
    ['ports and brackets tolerated', '127.0.0.1', { 'x-forwarded-for': '[2001:db8::7]:1234' }, proxied, '2001:db8::7', true],
    ['IPv4-mapped peer is trusted as IPv4', '::ffff:127.0.0.1', { 'x-forwarded-for': '10.1.2.3' }, proxied, '10.1.2.3', true],
    ['depth 1: the entry the peer appended', '127.0.0.1', { 'x-forwarded-for': '1.1.1.1, 203.0.113.7' }, { ...proxied, forwarded_proxy_depth: 1 }, '203.0.113.7', true],
    ['depth 2: one more hop to the left', '127.0.0.1', { 'x-forwarded-for': '1.1.1.1, 203.0.113.7' }, { ...proxied, forwarded_proxy_depth: 2 }, '1.1.1.1', true],
    ['depth beyond the list is invalid', '127.0.0.1', { 'x-forwarded-for': '203.0.113.7' }, { ...proxied, forwarded_proxy_depth: 2 }, '127.0.0.1', false],
    ['garbage entry is invalid', '127.0.0.1', { 'x-forwarded-for': '203.0.113.7, unknown' }, proxied, '127.0.0.1', false],
    ['more than 32 entries is invalid', '127.0.0.1', { 'x-forwarded-for': Array.from({ length: 33 }, () => '1.1.1.1').join(',') }, proxied, '127.0.0.1', false],
    ['source peer ignores headers', '127.0.0.1', { 'x-forwarded-for': '10.1.2.3' }, { ...proxied, forwarded_client_ip_source: 'peer' }, '127.0.0.1', true],
    ['x_real_ip from a trusted peer', '127.0.0.1', { 'x-real-ip': '10.1.2.3' }, { ...proxied, forwarded_client_ip_source: 'x_real_ip' }, '10.1.2.3', true],
    ['x_real_ip needs exactly one value', '127.0.0.1', { 'x-real-ip': '10.1.2.3, 10.1.2.4' }, { ...proxied, forwarded_client_ip_source: 'x_real_ip' }, '127.0.0.1', false],
    ['x_real_ip from an untrusted peer ignored', '192.0.2.5', { 'x-real-ip': '10.1.2.3' }, { ...proxied, forwarded_client_ip_source: 'x_real_ip' }, '192.0.2.5', true],
    ['no peer address', undefined, {}, proxied, null, false],
  ])('%s', (_name, peer, headers, ingress, clientIp, valid) => {
    expect(resolveClientIp(peer, headers, ingress)).toEqual({ clientIp, valid });
  });
});

describe('checkIngress', () => {
  const tenOnly = settings({ firewall_allowlist: ['10.0.0.0/8'] });
  test.each<[string, string | undefined, RequestHeaders, IngressSettings, boolean, string | null]>([
    ['acceptance 47: 192.0.2.5 outside 10.0.0.0/8', '192.0.2.5', {}, tenOnly, false, 'not_allowed'],
    ['inside the allowlist', '10.4.5.6', {}, tenOnly, true, null],
    ['IPv4-mapped peer inside the allowlist', '::ffff:10.4.5.6', {}, tenOnly, true, null],
    ['IPv6 allowlist entry', '2001:db8::9', {}, settings({ firewall_allowlist: ['2001:db8::/48'] }), true, null],
    ['empty allowlist allows everything', '192.0.2.5', {}, settings(), true, null],
    ['empty allowlist allows even a bad header', '127.0.0.1', { 'x-forwarded-for': 'nonsense' }, settings({ trusted_proxies: ['127.0.0.1'] }), true, null],
    ['trusted proxy forwards an allowed client', '127.0.0.1', { 'x-forwarded-for': '10.1.2.3' }, { ...tenOnly, trusted_proxies: ['127.0.0.1/32'] }, true, null],
    ['untrusted peer cannot forge XFF', '127.0.0.1', { 'x-forwarded-for': '10.1.2.3' }, tenOnly, false, 'not_allowed'],
    ['invalid forwarded header fails closed', '127.0.0.1', { 'x-forwarded-for': '10.1.2.3, bogus' }, { ...tenOnly, trusted_proxies: ['127.0.0.1/32'] }, false, 'invalid_forwarded_header'],
    ['invalid stored allowlist rule fails closed', '10.1.2.3', {}, settings({ firewall_allowlist: ['10.0.0.0/8', 'not-an-ip'] }), false, 'invalid_rule'],
    ['invalid stored trusted proxy fails closed', '10.1.2.3', {}, { ...tenOnly, trusted_proxies: ['proxy.internal'] }, false, 'invalid_rule'],
  ])('%s', (_name, peer, headers, ingress, allowed, reason) => {
    expect(checkIngress(peer, headers, ingress)).toMatchObject({ allowed, reason });
  });
});

describe('isRuntimePath', () => {
  test.each([
    ['/backend-api/codex/responses', true],
    ['/backend-api/files', true],
    ['/backend-api/transcribe', true],
    ['/v1/responses?x=1', true],
    ['/v1', true],
    ['/api/codex/usage', true],
    ['/wham/usage', true],
    ['/healthz', false],
    ['/readyz', false],
    ['/metrics', false],
    ['/admin/pools', false],
    ['/api/admin/pools', false],
    ['/bootstrap', false],
    ['/observatory', false],
    ['/v1x', false],
  ])('%s → %s', (path, expected) => {
    expect(isRuntimePath(path)).toBe(expected);
  });
});
