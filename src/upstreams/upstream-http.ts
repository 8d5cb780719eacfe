import { Agent } from 'undici';
import { parseTokenClaims } from './auth-json.ts';

/** Codex CLI identity the gateway presents upstream (runtime spec §5.2). */
export const CODEX_CLIENT_VERSION = '0.149.0';
export const CODEX_ORIGINATOR = 'codex_cli_rs';

export type UpstreamTimeouts = { connectMs: number; firstByteMs: number; idleMs: number };

/** One keep-alive agent per process, passed to whatever talks to the upstream. */
export function createUpstreamAgent(timeouts: UpstreamTimeouts): Agent {
  return new Agent({
    connect: { timeout: timeouts.connectMs },
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    // Every open stream holds one upstream connection: sized for thousands of concurrent streams.
    connections: 4096,
    headersTimeout: timeouts.firstByteMs,
    bodyTimeout: timeouts.idleMs,
  });
}

// Client headers that may travel upstream on native /responses and /responses/compact only.
const FORWARDED_CLIENT_HEADERS = ['x-codex-window-id', 'x-codex-parent-thread-id', 'x-codex-installation-id', 'x-codex-turn-state', 'x-openai-subagent'] as const;
const PRINTABLE = /^[\x20-\x7e]+$/;

export type UpstreamAccountCredentials = { accessToken: string; chatgptAccountId: string | null };

// Decoding the JWT per attempt costs tens of microseconds; tokens change only on refresh.
const residencyCache = new Map<string, string | null>();

export function residencyOf(accessToken: string): string | null {
  const cached = residencyCache.get(accessToken);
  if (cached !== undefined) return cached;
  const claimed = parseTokenClaims(accessToken).residency;
  const residency = !claimed || claimed === 'no_constraint' || !PRINTABLE.test(claimed) ? null : claimed;
  if (residencyCache.size >= 1024) residencyCache.clear();
  residencyCache.set(accessToken, residency);
  return residency;
}

/**
 * Headers for one upstream attempt: the chosen account's credentials and the gateway's own
 * identity; from the client only the allow-listed Codex headers, never its credentials.
 */
export function buildUpstreamHeaders(options: {
  account: UpstreamAccountCredentials;
  stream: boolean;
  json: boolean;
  clientHeaders?: Record<string, string | string[] | undefined>;
  forwardClientHeaders?: boolean;
  version?: string;
}): Record<string, string> {
  const version = options.version ?? CODEX_CLIENT_VERSION;
  const headers: Record<string, string> = {
    authorization: `Bearer ${options.account.accessToken}`,
    'user-agent': `${CODEX_ORIGINATOR}/${version}`,
    originator: CODEX_ORIGINATOR,
    version,
    accept: options.stream ? 'text/event-stream' : 'application/json',
  };
  if (options.json) headers['content-type'] = 'application/json';
  const accountId = options.account.chatgptAccountId?.trim();
  if (accountId && !accountId.startsWith('email_') && !accountId.startsWith('local_')) headers['chatgpt-account-id'] = accountId;
  const residency = residencyOf(options.account.accessToken);
  if (residency) headers['x-openai-internal-codex-residency'] = residency;
  if (options.forwardClientHeaders && options.clientHeaders) {
    for (const name of FORWARDED_CLIENT_HEADERS) {
      const value = options.clientHeaders[name];
      if (typeof value === 'string' && value.length > 0 && value.length <= 1024) headers[name] = value;
    }
    const turnMetadata = options.clientHeaders['x-codex-turn-metadata'];
    if (typeof turnMetadata === 'string' && turnMetadata.length <= 16_384) headers['x-codex-turn-metadata'] = withoutCodeModeToolNames(turnMetadata);
  }
  return headers;
}

function withoutCodeModeToolNames(raw: string): string {
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && 'code_mode_tool_names' in parsed) {
      const { code_mode_tool_names: _dropped, ...rest } = parsed as Record<string, unknown>;
      return JSON.stringify(rest);
    }
  } catch {
    // Not JSON: forwarded as sent.
  }
  return raw;
}
