import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AdminClient, bootstrapOwnerClient, OWNER_PASSWORD, startAdminHarness, totpCodeFor, uniqueEmail, type AdminHarness } from '../support/admin.ts';

let harness: AdminHarness;
let owner: AdminClient;

beforeAll(async () => {
  harness = await startAdminHarness();
  owner = await bootstrapOwnerClient(harness);
});
afterAll(async () => {
  await harness?.close();
});

const envelope = (code: string) => ({ error: expect.objectContaining({ code, message: expect.any(String), type: expect.any(String) }) });

/** An admin operator created by the owner who has already replaced the temporary password. */
async function newOperator(role: 'instance_admin' | 'instance_owner' = 'instance_admin', password = 'operator password 99') {
  const email = uniqueEmail('op');
  const created = await owner.post('/operators', { email, role, password, password_change_required: false });
  expect(created.status).toBe(201);
  const client = new AdminClient(harness.app);
  expect((await client.login(email, password)).status).toBe(200);
  return { client, email, password, id: created.body.operator.id as string };
}

describe('bootstrap and session', () => {
  test('bootstrap signs the owner in once; a second bootstrap is refused', async () => {
    const session = await owner.get('/session');
    expect(session.status).toBe(200);
    expect(session.body).toMatchObject({ status: 'ok', authenticated: true, user: { email: 'owner@example.com' }, auth: { roles: ['instance_owner'] } });
    expect(session.body.csrf_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const again = await new AdminClient(harness.app).post('/bootstrap', { email: 'x@example.com', password: 'another password' });
    expect(again.status).toBe(409);
    expect(again.body).toEqual(envelope('bootstrap_completed'));
    expect((await new AdminClient(harness.app).get('/bootstrap')).body).toEqual({ status: 'ok', bootstrap: 'completed' });
    const audits = await harness.db.selectFrom('audit_events').select('action').where('action', '=', 'auth.bootstrap').execute();
    expect(audits).toHaveLength(1);
  });

  test('GET /session: 401 invalid_session when anonymous; ?optional=1 answers authenticated false', async () => {
    const anonymous = new AdminClient(harness.app);
    const denied = await anonymous.get('/session');
    expect(denied.status).toBe(401);
    expect(denied.body).toEqual(envelope('invalid_session'));
    expect((await anonymous.get('/session?optional=1')).body).toEqual({ status: 'ok', authenticated: false });
    expect((await anonymous.get('/pools')).status).toBe(401);
  });

  test('the cookie is HttpOnly, SameSite=Lax, signed, and Secure behind https', async () => {
    const client = new AdminClient(harness.app);
    const response = await client.call('POST', '/session', { email: 'owner@example.com', password: OWNER_PASSWORD }, { headers: { 'x-forwarded-proto': 'https' } });
    const cookie = String(response.headers['set-cookie']);
    expect(cookie).toMatch(/^_codex_pooler_key=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax; Secure$/);
    const session = await harness.db.selectFrom('sessions').select(['created_at', 'expires_at']).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
    expect(session.expires_at.getTime() - session.created_at.getTime()).toBeCloseTo(14 * 24 * 3600_000, -4);
    // A tampered signature is no session at all.
    const forged = new AdminClient(harness.app);
    forged.cookie = client.cookie!.replace(/\.[^.]+$/, '.' + 'A'.repeat(43));
    expect((await forged.get('/session')).status).toBe(401);
  });

  test('wrong password and unknown email: 401 invalid_credentials, no session, audited as failure', async () => {
    const client = new AdminClient(harness.app);
    const sessionsBefore = await harness.db.selectFrom('sessions').select(harness.db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    for (const attempt of [{ email: 'owner@example.com', password: 'wrong password!' }, { email: 'nobody@example.com', password: 'whatever123' }, { email: '', password: '' }]) {
      const response = await client.post('/session', attempt);
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ error: { code: 'invalid_credentials', message: 'Invalid email or password.', type: 'invalid_request_error', param: null } });
    }
    const sessionsAfter = await harness.db.selectFrom('sessions').select(harness.db.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(sessionsAfter.n).toBe(sessionsBefore.n);
    const failures = await harness.db.selectFrom('audit_events').select(['details', 'ip_address']).where('action', '=', 'auth.login').where('outcome', '=', 'failure').where('ip_address', '=', client.ip).execute();
    expect(failures).toHaveLength(3);
    expect(failures[0]!.details).toMatchObject({ reason: 'invalid_credentials' });
  });

  test('a disabled operator with the right password cannot sign in', async () => {
    const op = await newOperator();
    expect((await owner.post(`/operators/${op.id}/deactivate`, { reason: 'left' })).status).toBe(200);
    expect((await op.client.get('/session')).status).toBe(401);
    expect((await new AdminClient(harness.app).login(op.email, op.password)).body).toEqual(envelope('invalid_credentials'));
  });

  test('five failures lock the account (429 login_locked, audited); the right password is refused while locked', async () => {
    const op = await newOperator();
    const attacker = new AdminClient(harness.app);
    for (let i = 0; i < 5; i++) expect((await attacker.login(op.email, `wrong password ${i}`)).status).toBe(401);
    const locked = await attacker.login(op.email, op.password);
    expect(locked.status).toBe(429);
    expect(locked.body).toEqual(envelope('login_locked'));
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    // Per account, not per IP: another address is refused too.
    expect((await new AdminClient(harness.app).login(op.email, op.password)).status).toBe(429);
    const lockAudit = await harness.db.selectFrom('audit_events').select(['outcome', 'details']).where('action', '=', 'auth.login_locked').where('target_id', '=', op.id).execute();
    expect(lockAudit).toHaveLength(1);
    expect(lockAudit[0]!.outcome).toBe('failure');
    // The owner's password reset clears the lock.
    const reset = await owner.post(`/operators/${op.id}/password-reset`);
    expect((await new AdminClient(harness.app).login(op.email, reset.body.temporary_password)).status).toBe(200);
  });

  test('one IP failing against many accounts is locked too', async () => {
    const attacker = new AdminClient(harness.app);
    for (let i = 0; i < 20; i++) await attacker.login(uniqueEmail('spray'), 'guess password');
    expect((await attacker.login('owner@example.com', OWNER_PASSWORD)).status).toBe(429);
  });

  test('an expired session gets 401 invalid_session', async () => {
    const op = await newOperator();
    const session = await op.client.get('/session');
    await harness.db.updateTable('sessions').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', session.body.session.id).execute();
    const response = await op.client.get('/session');
    expect(response.status).toBe(401);
    expect(response.body).toEqual(envelope('invalid_session'));
    const row = await harness.db.selectFrom('sessions').select('status').where('id', '=', session.body.session.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('expired');
  });

  test('a mutation without (or with a wrong) x-csrf-token is 403 csrf_invalid and changes nothing', async () => {
    const name = `csrf-${Date.now()}`;
    const missing = await owner.call('POST', '/pools', { name }, { csrf: false });
    expect(missing.status).toBe(403);
    expect(missing.body).toEqual(envelope('csrf_invalid'));
    const wrong = await owner.call('POST', '/pools', { name }, { csrf: false, headers: { 'x-csrf-token': 'A'.repeat(43) } });
    expect(wrong.status).toBe(403);
    expect(await harness.db.selectFrom('pools').select('id').where('name', '=', name).executeTakeFirst()).toBeUndefined();
  });

  test('logout revokes the session; the old cookie is then refused', async () => {
    const op = await newOperator();
    const cookie = op.client.cookie;
    const out = await op.client.call('DELETE', '/session');
    expect(out.body).toEqual({ status: 'ok', authenticated: false });
    const stale = new AdminClient(harness.app);
    stale.cookie = cookie;
    expect((await stale.get('/session')).status).toBe(401);
    expect(await harness.db.selectFrom('audit_events').select('id').where('action', '=', 'auth.logout').where('actor_user_id', '=', op.id).executeTakeFirst()).toBeDefined();
  });
});

describe('passwords', () => {
  test('change needs the current password and revokes the other sessions', async () => {
    const op = await newOperator();
    const other = new AdminClient(harness.app);
    await other.login(op.email, op.password);
    const wrong = await op.client.post('/me/password', { current_password: 'not it at all', new_password: 'brand new password' });
    expect(wrong.status).toBe(422);
    expect(wrong.body).toEqual(envelope('invalid_current_password'));
    const short = await op.client.post('/me/password', { current_password: op.password, new_password: 'short' });
    expect(short.body).toEqual(envelope('invalid_password'));
    const ok = await op.client.post('/me/password', { current_password: op.password, new_password: 'brand new password' });
    expect(ok.body).toEqual({ status: 'ok', authenticated: true, revoked_sessions: 1 });
    expect((await other.get('/session')).status).toBe(401);
    expect((await op.client.get('/session')).status).toBe(200);
  });

  test('a temporary password must be changed before anything else', async () => {
    const email = uniqueEmail('temp');
    const created = await owner.post('/operators', { email, role: 'instance_admin' });
    expect(created.body.temporary_password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(created.body.operator.password_change_required).toBe(true);
    const client = new AdminClient(harness.app);
    const login = await client.login(email, created.body.temporary_password);
    expect(login.body.auth.password_change_required).toBe(true);
    expect((await client.get('/pools')).body).toEqual(envelope('password_change_required'));
    expect((await client.post('/me/password', { new_password: 'my own password 1' })).status).toBe(200);
    expect((await client.get('/pools')).status).toBe(200);
  });
});

describe('TOTP', () => {
  test('enroll, confirm with a code, then sign in in two steps', async () => {
    const op = await newOperator();
    const enrollment = await op.client.post('/me/totp/enrollment');
    expect(enrollment.status).toBe(201);
    expect(enrollment.body.otpauth_uri).toMatch(/^otpauth:\/\/totp\//);
    expect(enrollment.body.recovery_codes).toHaveLength(10);
    const secret = enrollment.body.secret as string;
    // Pending until confirmed: signing in still needs only the password.
    expect((await new AdminClient(harness.app).login(op.email, op.password)).body.authenticated).toBe(true);
    expect((await op.client.post('/me/totp/confirm', { code: '000000' === totpCodeFor(secret) ? '111111' : '000000' })).body).toEqual(envelope('totp_invalid'));
    expect((await op.client.post('/me/totp/confirm', { code: totpCodeFor(secret) })).body).toEqual({ status: 'active' });
    const stored = await harness.db.selectFrom('totp_settings').select(['secret_ciphertext', 'status']).where('user_id', '=', op.id).executeTakeFirstOrThrow();
    expect(stored.status).toBe('active');
    expect(stored.secret_ciphertext.toString('latin1')).not.toContain(secret);

    const client = new AdminClient(harness.app);
    const first = await client.login(op.email, op.password);
    expect(first.body).toMatchObject({ status: 'ok', authenticated: false, mfa_required: true });
    expect((await client.get('/pools')).body).toEqual(envelope('totp_required'));
    const pendingCookie = client.cookie;
    const wrong = await client.post('/session/totp', { totp_code: '12345' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ error: expect.objectContaining({ code: 'totp_invalid', message: 'Authenticator code is invalid.' }) });
    const done = await client.post('/session/totp', { totp_code: totpCodeFor(secret, 30) });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ authenticated: true, auth: { totp_enabled: true } });
    expect(client.cookie).not.toBe(pendingCookie);
    // The same code is not accepted twice.
    const replay = new AdminClient(harness.app);
    await replay.login(op.email, op.password);
    expect((await replay.post('/session/totp', { totp_code: totpCodeFor(secret, 30) })).status).toBe(401);
  });

  test('a recovery code works once; the owner can reset and the operator can disable', async () => {
    const op = await newOperator();
    const enrollment = await op.client.post('/me/totp/enrollment');
    await op.client.post('/me/totp/confirm', { code: totpCodeFor(enrollment.body.secret) });
    const code = enrollment.body.recovery_codes[0] as string;

    const first = new AdminClient(harness.app);
    await first.login(op.email, op.password);
    expect((await first.post('/session/totp', { recovery_code: code.toLowerCase() })).body.authenticated).toBe(true);
    const second = new AdminClient(harness.app);
    await second.login(op.email, op.password);
    const reuse = await second.post('/session/totp', { recovery_code: code });
    expect(reuse.body).toEqual({ error: expect.objectContaining({ code: 'totp_invalid', message: 'Recovery code is invalid.' }) });
    expect(await harness.db.selectFrom('audit_events').select('id').where('action', '=', 'auth.recovery_code_used').where('actor_user_id', '=', op.id).execute()).toHaveLength(1);
    // Code in the same request as the password also works.
    const oneStep = new AdminClient(harness.app);
    expect((await oneStep.login(op.email, op.password, { recovery_code: enrollment.body.recovery_codes[1] })).body.authenticated).toBe(true);

    expect((await first.post('/me/totp/disable', { code: '000000' })).status).toBe(422);
    expect((await first.post('/me/totp/disable', { recovery_code: enrollment.body.recovery_codes[2] })).body).toEqual({ status: 'disabled' });
    expect((await new AdminClient(harness.app).login(op.email, op.password)).body.authenticated).toBe(true);

    const again = await op.client.post('/me/totp/enrollment');
    await op.client.post('/me/totp/confirm', { code: totpCodeFor(again.body.secret) });
    expect((await new AdminClient(harness.app).login(op.email, op.password)).body.mfa_required).toBe(true);
    expect((await owner.post(`/operators/${op.id}/totp-reset`)).body.operator.totp_status).toBe('disabled');
    expect((await new AdminClient(harness.app).login(op.email, op.password)).body.authenticated).toBe(true);
    expect(await harness.db.selectFrom('audit_events').select('id').where('action', '=', 'operator.totp_reset').where('target_id', '=', op.id).execute()).toHaveLength(1);
  });

  test('a wrong TOTP step counts toward the lockout', async () => {
    const op = await newOperator();
    const enrollment = await op.client.post('/me/totp/enrollment');
    await op.client.post('/me/totp/confirm', { code: totpCodeFor(enrollment.body.secret) });
    const client = new AdminClient(harness.app);
    await client.login(op.email, op.password);
    for (let i = 0; i < 5; i++) await client.post('/session/totp', { totp_code: '000001' });
    expect((await client.post('/session/totp', { totp_code: totpCodeFor(enrollment.body.secret) })).status).toBe(429);
  });
});
