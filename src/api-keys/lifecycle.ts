/**
 * The life of a Pool API key after it was minted (spec §6.2): pause, resume, revoke, rotate, edit
 * and delete. Every change locks the row, is audited, and publishes the key's prefix on the
 * API-key channel so each process drops its cached copy before the next request.
 */
import { sql } from 'kysely';
import { recordAudit, type Actor } from '../audit/index.ts';
import { mintPoolApiKey } from '../crypto/index.ts';
import { API_KEY_CHANNEL, jsonb, type Db, type Notifier, type Tx } from '../db/index.ts';
import { PoolerError, invalidInput } from '../errors.ts';
import { findPool } from '../pools/index.ts';
import type { ApiKeyRow, ApiKeyStatus } from './api-key.table.ts';
import { deleteObservatorySessions } from './dashboard-sessions.ts';
import { changedPolicyFields, mergeModelPolicy, modelPolicyColumns, modelPolicyOf, type ModelPolicyEdit } from './model-policy.ts';
import { apiKeyRefColumn, parseExpiry, toApiKey, type ApiKey, type MintedApiKey } from './service.ts';

export type ApiKeyDeps = { db: Db; notifier: Notifier };

export const MAX_NOTES_LENGTH = 2000;
const MAX_LABEL_LENGTH = 160;

/** What moving a key from one status to another means; same status is a silent no-op. */
export type StatusChange = { kind: 'noop' } | { kind: 'apply'; action: 'pause' | 'resume' | 'revoke' };

/** Pure: the transition table of spec §6.2. A revoked key accepts no change at all. */
export function planStatusChange(from: ApiKeyStatus, to: ApiKeyStatus): StatusChange {
  if (from === to) return { kind: 'noop' };
  if (from === 'revoked') throw revokedKey();
  return { kind: 'apply', action: to === 'paused' ? 'pause' : to === 'active' ? 'resume' : 'revoke' };
}

// The runtime answers 401 for a revoked key; an operator acting on one gets a conflict instead.
const revokedKey = () => new PoolerError('api_key_revoked', 'the api key is revoked; it can no longer be changed, only deleted', { status: 409, param: 'status' });

async function lockKey(tx: Tx, ref: string): Promise<ApiKeyRow> {
  const trimmed = ref.trim();
  const column = apiKeyRefColumn(trimmed);
  if (!column) throw invalidInput('give a key id (uuid) or prefix (sk-cxp-<12 hex>)', 'key');
  const row = await tx.selectFrom('api_keys').selectAll().where(column, '=', trimmed).forUpdate().executeTakeFirst();
  if (!row) throw new PoolerError('not_found', `api key ${trimmed} does not exist`, { param: 'key' });
  return row;
}

/** Entering paused or revoked bumps the epoch, so anything holding the key's old state drops it. */
const leavesActive = (to: ApiKeyStatus) => to === 'paused' || to === 'revoked';

function statusColumns(row: ApiKeyRow, to: ApiKeyStatus, now: Date) {
  return {
    status: to,
    updated_at: now,
    ...(to === 'revoked' ? { revoked_at: now } : {}),
    ...(leavesActive(to) ? { runtime_revocation_epoch: Number(row.runtime_revocation_epoch) + 1 } : {}),
  };
}

/** Pause, resume or revoke. A key already in that status answers unchanged, with no audit row. */
export async function setApiKeyStatus(deps: ApiKeyDeps, actor: Actor, ref: string, to: ApiKeyStatus): Promise<ApiKey> {
  const row = await deps.db.transaction().execute(async (tx) => {
    const current = await lockKey(tx, ref);
    const change = planStatusChange(current.status, to);
    if (change.kind === 'noop') return current;
    const updated = await tx.updateTable('api_keys').set(statusColumns(current, to, new Date())).where('id', '=', current.id).returningAll().executeTakeFirstOrThrow();
    if (leavesActive(to)) await deleteObservatorySessions(tx, current.id);
    await recordAudit(tx, { actor, action: `api_key.${change.action}`, poolId: current.pool_id, targetType: 'api_key', targetId: current.id, details: { key_prefix: current.key_prefix, previous_status: current.status, new_status: to } });
    return updated;
  });
  await deps.notifier.publish(API_KEY_CHANNEL, row.key_prefix);
  return toApiKey(row);
}

export const pauseApiKey = (deps: ApiKeyDeps, actor: Actor, ref: string) => setApiKeyStatus(deps, actor, ref, 'paused');
export const resumeApiKey = (deps: ApiKeyDeps, actor: Actor, ref: string) => setApiKeyStatus(deps, actor, ref, 'active');
export const revokeApiKey = (deps: ApiKeyDeps, actor: Actor, ref: string) => setApiKeyStatus(deps, actor, ref, 'revoked');

/**
 * A new secret and prefix on the same row (same id, limits, history). The old key fails at once in
 * every process: its prefix no longer exists and is published for eviction. The new key is shown
 * only in this answer.
 */
export async function rotateApiKey(deps: ApiKeyDeps, actor: Actor, ref: string): Promise<MintedApiKey & { previousPrefix: string }> {
  const minted = mintPoolApiKey();
  const { row, previousPrefix } = await deps.db.transaction().execute(async (tx) => {
    const current = await lockKey(tx, ref);
    if (current.status === 'revoked') throw revokedKey();
    const updated = await tx
      .updateTable('api_keys')
      .set({ key_prefix: minted.prefix, key_hash: minted.secretDigest, runtime_revocation_epoch: Number(current.runtime_revocation_epoch) + 1, updated_at: new Date() })
      .where('id', '=', current.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await deleteObservatorySessions(tx, current.id);
    await recordAudit(tx, { actor, action: 'api_key.rotate', poolId: current.pool_id, targetType: 'api_key', targetId: current.id, details: { previous_key_prefix: current.key_prefix, key_prefix: updated.key_prefix } });
    return { row: updated, previousPrefix: current.key_prefix };
  });
  await deps.notifier.publish(API_KEY_CHANNEL, previousPrefix);
  await deps.notifier.publish(API_KEY_CHANNEL, row.key_prefix);
  return { apiKey: toApiKey(row), key: minted.key, previousPrefix };
}

export type ApiKeyEdit = {
  /** Name; empty or null clears it. */
  label?: unknown;
  /** ISO-8601 date or date-time in the future; null or empty clears it (never expires). */
  expiresAt?: unknown;
  notes?: unknown;
  status?: unknown;
  /** Model access, enforced model, reasoning and service tier (see model-policy.ts); absent = unchanged. */
  policy?: ModelPolicyEdit;
  /** Another Pool (slug or id) to move the key to; the caller checked the operator may manage keys in both. */
  pool?: string;
};

type ParsedEdit = { label?: string | null; expiresAt?: Date | null; notes?: string | null; status?: ApiKeyStatus };

/** Pure: checks an edit and normalises it (trimmed text, parsed expiry). Absent fields stay as they are. */
export function parseApiKeyEdit(input: ApiKeyEdit, now = new Date()): ParsedEdit {
  const text = (value: unknown, field: string, max: number): string | null => {
    if (value === null || value === '') return null;
    if (typeof value !== 'string') throw invalidInput(`${field} must be a string`, field);
    const trimmed = value.trim();
    if (trimmed.length > max) throw invalidInput(`${field} may be at most ${max} characters`, field);
    return trimmed || null;
  };
  const edit: ParsedEdit = {};
  if (input.label !== undefined) edit.label = text(input.label, 'label', MAX_LABEL_LENGTH);
  if (input.notes !== undefined) edit.notes = text(input.notes, 'notes', MAX_NOTES_LENGTH);
  if (input.expiresAt !== undefined) edit.expiresAt = parseExpiry(input.expiresAt, now);
  if (input.status !== undefined) {
    if (input.status !== 'active' && input.status !== 'paused' && input.status !== 'revoked') throw invalidInput('status must be active, paused or revoked', 'status');
    edit.status = input.status;
  }
  return edit;
}

/**
 * Edits name, expiry, notes, status, model policy and Pool in one audited change (`api_key.update`
 * with the changed field names). Nothing changed = nothing written. A revoked key refuses every
 * edit; an inconsistent policy (`invalid_policy`) changes nothing. Moving to another Pool ends the
 * key's Observatory sessions (spec §6.2).
 */
export async function updateApiKey(deps: ApiKeyDeps, actor: Actor, ref: string, input: ApiKeyEdit): Promise<ApiKey> {
  const edit = parseApiKeyEdit(input);
  const target = input.pool === undefined ? null : await findPool(deps.db, input.pool);
  const row = await deps.db.transaction().execute(async (tx) => {
    const current = await lockKey(tx, ref);
    if (current.status === 'revoked') throw revokedKey();
    const before = toApiKey(current);
    const policy = input.policy === undefined ? before.policy : mergeModelPolicy(before.policy, input.policy);
    const changed: string[] = [];
    if (edit.label !== undefined && edit.label !== before.label) changed.push('label');
    if (edit.notes !== undefined && edit.notes !== before.notes) changed.push('notes');
    if (edit.expiresAt !== undefined && (edit.expiresAt?.getTime() ?? null) !== (before.expiresAt?.getTime() ?? null)) changed.push('expires_at');
    const statusChange = edit.status === undefined ? ({ kind: 'noop' } as const) : planStatusChange(current.status, edit.status);
    if (statusChange.kind === 'apply') changed.push('status');
    const policyChanges = changedPolicyFields(modelPolicyOf(current), policy);
    changed.push(...policyChanges);
    const moves = target !== null && target.id !== current.pool_id;
    if (moves) {
      if (target.status !== 'active') throw new PoolerError('conflict', `pool ${target.slug} is ${target.status}; keys can only move to an active pool`, { param: 'pool_id' });
      changed.push('pool_id');
    }
    if (changed.length === 0) return current;
    const now = new Date();
    const updated = await tx
      .updateTable('api_keys')
      .set({
        ...(changed.includes('label') ? { display_name: edit.label ?? null } : {}),
        ...(changed.includes('expires_at') ? { expires_at: edit.expiresAt ?? null } : {}),
        ...(changed.includes('notes') ? { metadata: jsonb({ ...current.metadata, notes: edit.notes ?? null }) } : {}),
        ...(policyChanges.length > 0 ? modelPolicyColumns(policy) : {}),
        ...(moves ? { pool_id: target.id } : {}),
        ...(statusChange.kind === 'apply' ? statusColumns(current, edit.status!, now) : { updated_at: now }),
      })
      .where('id', '=', current.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    if ((statusChange.kind === 'apply' && leavesActive(edit.status!)) || moves) await deleteObservatorySessions(tx, current.id);
    const details = {
      key_prefix: current.key_prefix,
      changed_fields: changed,
      label: updated.display_name,
      expires_at: updated.expires_at?.toISOString() ?? null,
      ...(statusChange.kind === 'apply' ? { previous_status: current.status, new_status: updated.status } : {}),
      ...(policyChanges.length > 0 ? { policy: modelPolicyOf(updated) } : {}),
      ...(moves ? { previous_pool_id: current.pool_id, pool_id: target.id } : {}),
    };
    await recordAudit(tx, { actor, action: 'api_key.update', poolId: updated.pool_id, targetType: 'api_key', targetId: current.id, details });
    return updated;
  });
  await deps.notifier.publish(API_KEY_CHANNEL, row.key_prefix);
  return toApiKey(row);
}

/**
 * Deletes a key for good, with its limits, request history and ledger rows (cascade). The prefix
 * must be typed as confirmation. Days whose rollups counted the key are marked for a rebuild, so
 * usage reads fall back to live rows until then.
 */
export async function deleteApiKey(deps: ApiKeyDeps, actor: Actor, ref: string, confirm: unknown): Promise<ApiKey> {
  const row = await deps.db.transaction().execute(async (tx) => {
    const current = await lockKey(tx, ref);
    if (typeof confirm !== 'string' || confirm.trim() !== current.key_prefix) {
      throw new PoolerError('confirmation_mismatch', 'type the key prefix (sk-cxp-…) to confirm', { param: 'confirm' });
    }
    await recordAudit(tx, { actor, action: 'api_key.delete', poolId: current.pool_id, targetType: 'api_key', targetId: current.id, details: { key_prefix: current.key_prefix, label: current.display_name, status: current.status } });
    await sql`
      UPDATE daily_rollup_coverages SET completed_at = NULL, mutation_version = mutation_version + 1
      WHERE rollup_date IN (SELECT DISTINCT (admitted_at AT TIME ZONE 'UTC')::date FROM requests WHERE api_key_id = ${current.id})`.execute(tx);
    await tx.deleteFrom('api_keys').where('id', '=', current.id).execute();
    return current;
  });
  await deps.notifier.publish(API_KEY_CHANNEL, row.key_prefix);
  return toApiKey(row);
}
