import type { Kysely, Transaction } from 'kysely';
import type { LedgerTables } from '../accounting/ledger.table.ts';
import type { AccountingTables } from '../accounting/pricing.table.ts';
import type { ApiKeyTables } from '../api-keys/api-key.table.ts';
import type { AuditTables } from '../audit/audit.table.ts';
import type { RequestLogTables } from '../gateway/request-log.table.ts';
import type { ObservatoryTables } from '../observatory/observatory.table.ts';
import type { OperatorTables } from '../operators/operator.table.ts';
import type { PoolTables } from '../pools/pool.table.ts';
import type { SettingsTables } from '../settings/settings.table.ts';
import type { UpstreamTables } from '../upstreams/account.table.ts';
import type { OAuthTables } from '../upstreams/oauth-flow.table.ts';

/** Every table, merged from the domain that owns it. */
export interface Database
  extends PoolTables,
    UpstreamTables,
    OAuthTables,
    ApiKeyTables,
    OperatorTables,
    RequestLogTables,
    AccountingTables,
    LedgerTables,
    ObservatoryTables,
    AuditTables,
    SettingsTables {}

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
