import type { Command } from 'commander';
import { cliActor } from '../audit/index.ts';
import { invalidInput } from '../errors.ts';
import { createInvite, listInvites, revokeInvite, type InviteStatus, type InviteView } from '../upstreams/index.ts';
import type { OperatorContext } from './context.ts';
import { OPERATOR_GROUP_DESCRIPTIONS } from './groups.ts';
import { dash, formatTable, isoOrNull, printJson, shortDate } from './format.ts';

const STATUSES: readonly InviteStatus[] = ['active', 'accepted', 'revoked', 'expired'];

export const inviteJson = (invite: InviteView) => ({
  id: invite.id,
  pool: invite.poolSlug,
  email: invite.email,
  status: invite.status,
  inviter: invite.inviter,
  expires_at: isoOrNull(invite.expiresAt),
  accepted_at: isoOrNull(invite.acceptedAt),
  revoked_at: isoOrNull(invite.revokedAt),
  result_account_id: invite.resultAccountId,
  created_at: isoOrNull(invite.createdAt),
});

export function registerInviteCommands(program: Command, ctx: OperatorContext): void {
  const invites = program.command('invites').description(OPERATOR_GROUP_DESCRIPTIONS.invites);

  invites
    .command('create')
    .description('invite an email to add its ChatGPT account to a pool (prints the one-time link)')
    .requiredOption('--pool <pool>', 'pool slug or id')
    .requiredOption('--email <email>', 'the email of the ChatGPT account to invite')
    .option('--expires-at <time>', 'RFC 3339 expiry (default: 24 hours from now)')
    .option('--json', 'print the invite and its URL as JSON')
    .action(async (options: { pool: string; email: string; expiresAt?: string; json?: boolean }) => {
      const { accountDeps } = await ctx.deps();
      const created = await createInvite(accountDeps, cliActor(), { pool: options.pool, email: options.email, expiresAt: options.expiresAt ?? null });
      if (options.json) return printJson(ctx.io, { ...inviteJson(created.invite), url: created.url });
      ctx.io.stdout(`invited ${created.invite.email} to pool ${created.invite.poolSlug} until ${created.invite.expiresAt.toISOString()}\n${created.url}\n`);
      ctx.io.stderr('The link is shown only this once: send it to the account owner.\n');
    });

  invites
    .command('list')
    .description('list invites with their state')
    .option('--pool <pool>', 'only this pool (slug or id)')
    .option('--status <status>', `only ${STATUSES.join(', ')}`)
    .option('--json', 'print a JSON array')
    .action(async (options: { pool?: string; status?: string; json?: boolean }) => {
      if (options.status && !STATUSES.includes(options.status as InviteStatus)) throw invalidInput(`--status must be one of ${STATUSES.join(', ')}`, 'status');
      const { db } = await ctx.deps();
      const list = await listInvites(db, { ...(options.pool ? { pool: options.pool } : {}), ...(options.status ? { status: options.status as InviteStatus } : {}) });
      if (options.json) return printJson(ctx.io, list.map(inviteJson));
      if (list.length === 0) return ctx.io.stdout('no invites: create one with `codex-pooler invites create --pool NAME --email ADDRESS`\n');
      ctx.io.stdout(formatTable(['ID', 'POOL', 'EMAIL', 'STATUS', 'EXPIRES', 'INVITER'], list.map((i) => [i.id, i.poolSlug, i.email, i.status, shortDate(i.expiresAt), dash(i.inviter)])));
    });

  invites
    .command('revoke')
    .description('revoke an active invite (accounts that joined stay)')
    .argument('<id>', 'invite id (see `invites list`)')
    .action(async (id: string) => {
      const { db } = await ctx.deps();
      const invite = await revokeInvite({ db }, cliActor(), id);
      ctx.io.stdout(`revoked invite ${invite.id} for ${invite.email} in pool ${invite.poolSlug}\n`);
    });
}
