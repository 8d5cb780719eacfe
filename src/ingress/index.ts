export { checkIngress, compileRules, isRuntimePath, normalizeAddress, resolveClientIp, type DenyReason, type IngressSettings, type IngressVerdict } from './firewall.ts';
export { ingressFirewallHook } from './hook.ts';
