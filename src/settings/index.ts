export { defaultInstanceSettings, effectiveInstanceSettings, getInstanceSettings, updateInstanceSettings } from './instance-settings.ts';
export { InstanceSettingsCache, SETTINGS_REFRESH_MS } from './settings-cache.ts';
export type { InstanceSettings, InstanceSettingsDocument } from './instance-settings.ts';
