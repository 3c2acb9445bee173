// The audit tests' PostgreSQL: a database of this file's own (test/helpers/postgres.ts: on
// MCP_WARDEN_PG_URL's server, or a throwaway embedded one), in which each data folder of a test gets a
// schema of its own.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase, stopPostgres } from '../helpers/postgres.js';

export interface TestSchema {
  url: string;
  /** The schema prefix: schemas made in the test start with it. */
  schema: string;
  /** A plain pool on the database (for tampering and checks; tables are named with their schema). */
  admin: pg.Pool;
  drop(): Promise<void>;
}

export async function testSchema(): Promise<TestSchema> {
  const db = await createTestDatabase();
  const schema = `audit_t_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Pool({ connectionString: db.url, max: 2 });
  return {
    url: db.url,
    schema,
    admin,
    drop: async () => {
      await admin.end();
      try {
        await db.drop();
      } finally {
        await stopPostgres();
      }
    },
  };
}
