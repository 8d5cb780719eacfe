import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const ADMIN_DATABASE_URL = process.env.CODEX_POOLER_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export type ScratchDatabase = { url: string; name: string; drop(): Promise<void> };

/** A fresh database on the local PostgreSQL, dropped by the caller (test runs never share state). */
export async function createScratchDatabase(label = 'run'): Promise<ScratchDatabase> {
  const name = `codex_pooler_test_${label}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
