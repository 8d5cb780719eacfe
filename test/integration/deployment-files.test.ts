import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../support/processes.ts';

/**
 * No Docker engine runs in CI, so the image and Compose files are checked as files: the parts an
 * operator relies on (start order, roles, secrets from .env, health checks, the non-root image
 * with the admin UI) must not drift from the deployment docs.
 */
const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');

type Service = {
  image?: string;
  command?: string[];
  restart?: string;
  environment?: Record<string, string>;
  env_file?: { path: string; required: boolean }[];
  ports?: string[];
  healthcheck?: { disable?: boolean; test?: string[] };
  depends_on?: Record<string, { condition: string }>;
};

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { name: string; services: Record<string, Service>; volumes: Record<string, unknown> };
  const { db, migrate, app, worker, scheduler } = compose.services;

  test('start order: db healthy, then one migrate run, then the roles', () => {
    expect(compose.name).toBe('codex-pooler');
    expect(Object.keys(compose.services).sort()).toEqual(['app', 'db', 'migrate', 'scheduler', 'worker']);
    expect(db!.image).toBe('postgres:18');
    expect(db!.healthcheck!.test!.join(' ')).toContain('pg_isready');
    expect(migrate!.depends_on).toEqual({ db: { condition: 'service_healthy' } });
    expect(migrate!.restart).toBe('no');
    expect(migrate!.command).toEqual(['/app/bin/codex-pooler', 'migrate']);
    for (const role of [app, worker, scheduler]) expect(role!.depends_on).toEqual({ migrate: { condition: 'service_completed_successfully' } });
  });

  test('one image; the role comes from OBAN_MODE and only the web role serves HTTP', () => {
    const images = new Set([migrate, app, worker, scheduler].map((s) => s!.image));
    expect(images.size).toBe(1);
    expect(app!.environment).toMatchObject({ OBAN_MODE: 'web', PHX_SERVER: 'true', PORT: '4000' });
    expect(app!.ports).toEqual(['${CODEX_POOLER_HTTP_PORT:-4000}:4000']);
    expect(worker!.environment!.OBAN_MODE).toBe('worker');
    expect(scheduler!.environment!.OBAN_MODE).toBe('scheduler');
    for (const role of [migrate, worker, scheduler]) {
      expect(role!.environment!.PHX_SERVER).toBeUndefined();
      expect(role!.ports).toBeUndefined();
      // Nothing listens there: the image's HTTP health check is switched off rather than faked.
      expect(role!.healthcheck).toEqual({ disable: true });
    }
    expect(app!.healthcheck).toBeUndefined();
  });

  test('secrets come from .env: required ones fail `up` when unset, and .env.example lists each', () => {
    const text = read('docker-compose.yml');
    const required = new Set([...text.matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]!));
    expect([...required].sort()).toEqual(['CODEX_POOLER_TOTP_ENCRYPTION_KEY', 'CODEX_POOLER_UPSTREAM_SECRET_KEY', 'POSTGRES_PASSWORD', 'SECRET_KEY_BASE']);
    const example = read('.env.example');
    for (const name of required) expect(example).toMatch(new RegExp(`^${name}=$`, 'm'));
    for (const role of [migrate, app, worker, scheduler]) {
      expect(role!.env_file).toEqual([{ path: '.env', required: false }]);
      expect(Object.keys(role!.environment!)).toEqual(expect.arrayContaining(['DATABASE_URL', 'SECRET_KEY_BASE', 'CODEX_POOLER_UPSTREAM_SECRET_KEY', 'CODEX_POOLER_TOTP_ENCRYPTION_KEY']));
    }
    expect(read('.gitignore')).toMatch(/^\.env$/m);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = [...dockerfile.matchAll(/^FROM (\S+) AS (\w+)$/gm)].map((m) => ({ image: m[1], name: m[2] }));

  test('multi-stage on Node 24 slim; the runtime stage ships the built admin UI', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24-[a-z]+-slim$/m);
    expect(stages.map((s) => s.name)).toEqual(['deps', 'ui', 'runtime']);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/test -f web\/dist\/index\.html/);
    expect(dockerfile).toMatch(/^COPY --from=ui \/app\/web\/dist \.\/web\/dist$/m);
    // Everything the runtime loads is copied: the launcher, sources, vendored data.
    for (const dir of ['bin', 'src', 'priv']) expect(dockerfile).toMatch(new RegExp(`^COPY ${dir} \\./${dir}$`, 'm'));
  });

  test('the image contract: non-root codex_pooler, /app, port 4000, `codex-pooler start`', () => {
    expect(dockerfile).toMatch(/useradd --system .*--home-dir \/app .*--shell \/usr\/sbin\/nologin codex_pooler/);
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    expect(dockerfile).toMatch(/^WORKDIR \/app$/m);
    for (const env of ['HOME=/app', 'LANG=C.UTF-8', 'LC_ALL=C.UTF-8', 'PORT=4000', 'TZDIR=/usr/share/zoneinfo']) expect(dockerfile).toContain(env);
    expect(dockerfile).toMatch(/^EXPOSE 4000$/m);
    expect(dockerfile).toMatch(/^CMD \["\/app\/bin\/codex-pooler", "start"\]$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n\s+CMD .*\/healthz/m);
  });

  test('.dockerignore keeps secrets, local data and built output out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((line) => line.trim());
    for (const entry of ['.env', '.git', '**/node_modules', 'data', 'web/dist', 'test']) expect(ignored).toContain(entry);
    // ...but not what the stages copy.
    for (const needed of ['bin', 'src', 'priv', 'web', 'package.json', 'package-lock.json']) expect(ignored).not.toContain(needed);
  });
});
