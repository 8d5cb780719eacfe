export { roleFromObanMode, runRole } from './role.ts';
export type { OperatorDepsOfServer, RoleName, RoleOptions, RolePlan } from './role.ts';
export { migrateAndImportPricing, runMigrations } from './migrate.ts';
export type { MigrateResult } from './migrate.ts';
export * from './client.ts';
