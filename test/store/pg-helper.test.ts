// The PostgreSQL test helper: each file's database is its own, and dropping one removes it.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, usePostgres } from '../helpers/postgres.js';

const db = usePostgres();

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('test/helpers/postgres', () => {
  it('gives a file a database of its own that another database does not see', async () => {
    await query(db.url, 'CREATE TABLE marker (id int); INSERT INTO marker VALUES (7)');
    expect((await query(db.url, 'SELECT id FROM marker')).rows).toEqual([{ id: 7 }]);
    const other = await createTestDatabase();
    try {
      expect(other.name).not.toBe(db.name);
      await expect(query(other.url, 'SELECT id FROM marker')).rejects.toThrow(/marker/);
    } finally {
      await other.drop();
    }
    const left = await query(db.url, `SELECT 1 FROM pg_database WHERE datname = '${other.name}'`);
    expect(left.rowCount).toBe(0);
  });
});
