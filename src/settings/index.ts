export { getInstanceSettings, updateInstanceSettings } from './instance-settings.ts';
export type { InstanceSettings, InstanceSettingsDocument } from './instance-settings.ts';
