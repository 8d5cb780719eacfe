export { bootstrapOwner, bootstrapStatus, EMAIL_SCHEMA } from './bootstrap.ts';
export type { BootstrapResult, BootstrapStatus } from './bootstrap.ts';
