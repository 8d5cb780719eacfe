import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { InstanceSettingsDocument } from '../settings/index.ts';

/**
 * The ingress firewall's decisions (control-plane spec §8.5), pure: given the socket peer, the
 * request headers and the `ingress` settings, who the client is and whether it may use the runtime.
 */
export type IngressSettings = InstanceSettingsDocument['ingress'];
export type RequestHeaders = Record<string, string | string[] | undefined>;
export type DenyReason = 'not_allowed' | 'invalid_rule' | 'invalid_forwarded_header';
export type IngressVerdict = { clientIp: string | null; allowed: boolean; reason: DenyReason | null };

const MAX_FORWARDED_ENTRIES = 32;
const VALUE_SHAPE = /^[\x21-\x7e]{1,64}$/;
const MAPPED_DOTTED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/;
const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * One address as sent by a peer or a proxy: brackets and ports are tolerated, IPv4-mapped IPv6 is
 * read as the IPv4 address; anything else (names, garbage, over 64 bytes) is null.
 */
export function normalizeAddress(value: string): string | null {
  const trimmed = value.trim();
  if (!VALUE_SHAPE.test(trimmed)) return null;
  let address = trimmed.toLowerCase();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(address);
  if (bracketed) address = bracketed[1]!;
  else if (/^[\d.]+:\d{1,5}$/.test(address)) address = address.slice(0, address.indexOf(':'));
  const dotted = MAPPED_DOTTED.exec(address);
  if (dotted && isIPv4(dotted[1]!)) return dotted[1]!;
  const hex = MAPPED_HEX.exec(address);
  if (hex) {
    const high = parseInt(hex[1]!, 16);
    const low = parseInt(hex[2]!, 16);
    return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  }
  if (isIPv4(address) || isIPv6(address)) return address;
  return null;
}

const familyOf = (address: string): 'ipv4' | 'ipv6' => (isIPv4(address) ? 'ipv4' : 'ipv6');

/** A list of IPs and CIDRs as a BlockList; null when any entry is not one (stored rules fail closed). */
export function compileRules(entries: readonly string[]): BlockList | null {
  const list = new BlockList();
  for (const entry of entries) {
    const [base, prefixText, extra] = entry.trim().split('/');
    if (extra !== undefined || base === undefined) return null;
    const address = isIPv4(base) || isIPv6(base) ? normalizeAddress(base) : null;
    if (!address) return null;
    const family = familyOf(address);
    if (prefixText === undefined) {
      list.addAddress(address, family);
      continue;
    }
    if (!/^\d{1,3}$/.test(prefixText)) return null;
    let prefix = Number(prefixText);
    // An IPv4-mapped IPv6 subnet (::ffff:10.0.0.0/104) covers the IPv4 subnet it maps.
    if (family === 'ipv4' && base.includes(':')) prefix -= 96;
    if (prefix < 0 || prefix > (family === 'ipv4' ? 32 : 128)) return null;
    list.addSubnet(address, prefix, family);
  }
  return list;
}

type CompiledIngress = { allowlist: BlockList | null; trusted: BlockList | null; enabled: boolean };
// Settings snapshots are replaced, never mutated: one compilation per snapshot.
const compiled = new WeakMap<IngressSettings, CompiledIngress>();

function compile(settings: IngressSettings): CompiledIngress {
  let rules = compiled.get(settings);
  if (!rules) {
    rules = { allowlist: compileRules(settings.firewall_allowlist), trusted: compileRules(settings.trusted_proxies), enabled: settings.firewall_allowlist.length > 0 };
    compiled.set(settings, rules);
  }
  return rules;
}

const headerValues = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/**
 * The client IP (spec §8.5): the peer itself unless the peer is a trusted proxy. Behind one, with
 * `x_forwarded_for` depth 0 the X-Forwarded-For list is walked right to left to the first address
 * that is not a trusted proxy; depth N takes the N-th entry from the right (the peer being hop 1,
 * depth 1 is the address it appended). `x_real_ip` needs exactly one value. A malformed header
 * leaves the peer as the client and marks the answer invalid.
 */
export function resolveClientIp(peer: string | undefined, headers: RequestHeaders, settings: IngressSettings): { clientIp: string | null; valid: boolean } {
  const peerIp = peer === undefined ? null : normalizeAddress(peer);
  if (!peerIp) return { clientIp: null, valid: false };
  const { trusted } = compile(settings);
  if (settings.forwarded_client_ip_source === 'peer' || !trusted) return { clientIp: peerIp, valid: true };
  const isTrusted = (address: string) => trusted.check(address, familyOf(address));
  if (!isTrusted(peerIp)) return { clientIp: peerIp, valid: true };
  const invalid = { clientIp: peerIp, valid: false };

  if (settings.forwarded_client_ip_source === 'x_real_ip') {
    const values = headerValues(headers['x-real-ip']);
    if (values.length === 0) return { clientIp: peerIp, valid: true };
    if (values.length > 1 || values[0]!.includes(',')) return invalid;
    const address = normalizeAddress(values[0]!);
    return address ? { clientIp: address, valid: true } : invalid;
  }

  const raw = headerValues(headers['x-forwarded-for']).join(',');
  if (raw.trim() === '') return { clientIp: peerIp, valid: true };
  const parts = raw.split(',');
  if (parts.length > MAX_FORWARDED_ENTRIES) return invalid;
  const entries: string[] = [];
  for (const part of parts) {
    const address = normalizeAddress(part);
    if (!address) return invalid;
    entries.push(address);
  }
  const depth = settings.forwarded_proxy_depth;
  if (depth > 0) return entries.length >= depth ? { clientIp: entries[entries.length - depth]!, valid: true } : invalid;
  for (let i = entries.length - 1; i >= 0; i--) if (!isTrusted(entries[i]!)) return { clientIp: entries[i]!, valid: true };
  return { clientIp: entries[0]!, valid: true };
}

/** Whether a runtime request may proceed; an empty allowlist lets everything through. */
export function checkIngress(peer: string | undefined, headers: RequestHeaders, settings: IngressSettings): IngressVerdict {
  const { clientIp, valid } = resolveClientIp(peer, headers, settings);
  const rules = compile(settings);
  if (!rules.enabled) return { clientIp, allowed: true, reason: null };
  if (!rules.allowlist || !rules.trusted) return { clientIp, allowed: false, reason: 'invalid_rule' };
  if (!valid || !clientIp) return { clientIp, allowed: false, reason: 'invalid_forwarded_header' };
  const allowed = rules.allowlist.check(clientIp, familyOf(clientIp));
  return { clientIp, allowed, reason: allowed ? null : 'not_allowed' };
}

const RUNTIME_PATH = /^\/(?:backend-api|v1|api\/codex|wham)(?:[/?]|$)/;

/** The runtime surface the firewall guards (admin, Observatory, probes and /metrics never are). */
export function isRuntimePath(url: string): boolean {
  return RUNTIME_PATH.test(url);
}
