import { z } from 'zod';

/** A PostgreSQL connection URL: postgres:// or postgresql://, with a host and a database name. */
const PostgresUrlSchema = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Never echo the value: it may carry a password.
    ctx.addIssue({ code: 'custom', message: 'must be a postgres:// URL (postgres://user@host:5432/database)' });
    return;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    ctx.addIssue({ code: 'custom', message: `must be a postgres:// URL, not ${url.protocol}//` });
  else if (url.hostname === '')
    ctx.addIssue({ code: 'custom', message: 'must name a host (postgres://user@host:5432/database)' });
  else if (url.pathname.replace(/^\//, '') === '')
    ctx.addIssue({ code: 'custom', message: 'must name a database (postgres://user@host:5432/database)' });
});

/** TLS to PostgreSQL. Present: the connection is encrypted and the server's certificate is checked. */
export const StoreTlsSchema = z
  .object({
    /** PEM file of the CA that signed the server's certificate, relative to the config file. Unset: the system's CAs. */
    caFile: z.string().min(1).optional(),
    /** Check the certificate against the CA and the host name (only a test set-up turns this off). */
    verify: z.boolean().default(true),
  })
  .strict();

export const SqliteStoreSchema = z.object({ kind: z.literal('sqlite') }).strict();

export const PostgresStoreSchema = z
  .object({
    kind: z.literal('postgres'),
    /** Write `${MCP_WARDEN_PG_URL}` here rather than a password. */
    url: PostgresUrlSchema,
    tls: StoreTlsSchema.optional(),
    /** Connections this replica opens at most. */
    poolSize: z.number().int().min(2).max(200).default(10),
    /** The server cancels any statement running longer than this. */
    statementTimeoutMs: z.number().int().min(100).max(600_000).default(5_000),
    /** How long to wait for a connection before the operation (and so the call) is refused. */
    connectTimeoutMs: z.number().int().min(100).max(60_000).default(5_000),
    /** The schema the tables live in (created if missing); unset: the user's search_path (normally public). */
    schema: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier: ^[a-z_][a-z0-9_]{0,62}$')
      .optional(),
  })
  .strict();

/** Where shared state lives: state.db and audit.db in dataDir (default), or one PostgreSQL for several replicas. */
export const StoreSchema = z.discriminatedUnion('kind', [SqliteStoreSchema, PostgresStoreSchema]);

export type StoreConfig = z.infer<typeof StoreSchema>;
export type PostgresStoreConfig = z.infer<typeof PostgresStoreSchema>;
