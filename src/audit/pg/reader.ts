import type { PostgresStoreConfig } from '../../config/store-schema.js';
import { escapeRegExp } from '../../model/glob.js';
import { describePgError, openStorePool, type PgPool } from '../../state/pg/pool.js';
import { WardenError } from '../../errors.js';
import type { StoredEntry } from '../chain.js';
import type { CheckpointRow } from '../checkpoints.js';
import {
  ENTRIES_AFTER,
  LAST_ENTRIES,
  RECORD_ENTRIES,
  eventsQuery,
  exportQuery,
  exportedRecord,
  listQuery,
  recordOf,
  relaysQuery,
  statsQueries,
  type EventFilter,
  type RecordDetail,
  type RecordFilter,
  type RecordSummary,
  type Stats,
  type StatsRow,
} from '../queries.js';
import type { AuditReader, ExportedRecord } from '../reader.js';
import type { ExternalCheckpoints, VerifyReport } from '../verify.js';
import { toStoredEntry, type PgEntryRow } from './rows.js';
import { checkPgSchema } from './schema.js';
import { pgCheckpoints, pgPublishedKeys, verifyPgChain } from './verify.js';

/** A single-quoted SQL string literal (a quote inside is doubled). */
const LITERAL = /'(?:[^']|'')*'/g;
/** A literal set aside by `pgStatement`: its index, quoted. */
const SET_ASIDE = /'(\d+)'/g;

/**
 * A statement of src/audit/queries.ts (written for SQLite) as PostgreSQL runs it: the `audit_` tables,
 * numbered parameters, `GLOB` as an anchored regular expression, `json_extract` as `->>`, a boolean sum
 * as a filtered count, camel-case aliases quoted. One set of reviewer queries for both stores.
 *
 * The string literals are set aside first (each replaced by its index) and put back last, so no rewrite
 * reads or changes their text: a `?`, a table name or an `AS fooBar` inside a literal stays as written.
 * (The statements have no comments and no quoted identifiers.)
 */
export function pgStatement(sql: string, params: readonly unknown[]): { text: string; values: unknown[] } {
  const values = [...params];
  const literals: string[] = [];
  const setAside = (literal: string): string => `'${literals.push(literal) - 1}'`;
  const literal = (index: string): string => literals[Number(index)]!;
  let n = 0;
  const text = sql
    .replace(LITERAL, setAside)
    .replace(/\bentries\b/g, 'audit_entries')
    .replace(/\bopen_intents\b/g, 'audit_open_intents')
    .replace(/json_extract\((\w+)\.body, '(\d+)'\)/g, (_match, alias: string, index: string) => {
      const path = /^'\$\.(\w+(?:\.\w+)*)'$/.exec(literal(index));
      if (!path) throw new Error(`pgStatement: json_extract path ${literal(index)} is not '$.<field>[.<field>...]'`);
      const fields = path[1]!.split('.');
      // One field: `->> 'field'`; a nested one: `#>> '{a,b}'` (both text, or NULL when absent).
      return fields.length === 1
        ? `(${alias}.body::jsonb ->> ${setAside(`'${fields[0]!}'`)})`
        : `(${alias}.body::jsonb #>> ${setAside(`'{${fields.join(',')}}'`)})`;
    })
    .replace(/sum\((d\.outcome (?:= '\d+'|IN \([^)]*\)))\)/g, 'count(*) FILTER (WHERE $1)')
    .replace(/\bAS ([a-z]+[A-Z][A-Za-z]*)\b/g, 'AS "$1"')
    .replace(/(GLOB )?\?/g, (_match, glob: string | undefined) => {
      n += 1;
      if (glob === undefined) return `$${n}`;
      values[n - 1] = globPattern(String(values[n - 1]));
      return `~ $${n}`;
    })
    .replace(SET_ASIDE, (_match, index: string) => literal(index));
  return { text, values };
}

/** SQLite's GLOB (`*`, `?`, `[...]`, `[^...]`; case-sensitive) as an anchored POSIX regular expression. */
export function globPattern(glob: string): string {
  let out = '^';
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      let j = i + 1;
      if (glob[j] === '^') j += 1;
      if (glob[j] === ']') j += 1;
      const end = glob.indexOf(']', j);
      if (end === -1) {
        out += '\\[';
        continue;
      }
      const negate = glob[i + 1] === '^';
      const body = glob.slice(negate ? i + 2 : i + 1, end).replace(/\\/g, '\\\\');
      out += `[${negate ? '^' : ''}${body}]`;
      i = end;
    } else out += escapeRegExp(c);
  }
  return `${out}$`;
}

const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

function summary(row: Record<string, unknown>): RecordSummary {
  return {
    ...(row as unknown as RecordSummary),
    intentSeq: num(row.intentSeq),
    outcomeSeq: num(row.outcomeSeq),
    startedAt: Number(row.startedAt),
    endedAt: num(row.endedAt),
    durationMs: num(row.durationMs),
  };
}

const statsRow = (row: Record<string, unknown>): StatsRow => ({
  key: row.key as string | null,
  calls: Number(row.calls),
  denied: Number(row.denied),
  errors: Number(row.errors),
});

const NUMERIC_ENTRY_FIELD = /^[io]_(seq|ts|started_at)$/;
/** Rows `audit export` fetches from its cursor at a time. */
const EXPORT_PAGE = 500;

/** The reviewer's view of the audit log in the PostgreSQL store (read only; never migrates). */
export class PgAuditReader implements AuditReader {
  private constructor(
    private readonly pool: PgPool,
    readonly location: string,
  ) {}

  /** Opens a pool on the store and checks the audit schema is the one this version reads. */
  static async open(store: PostgresStoreConfig, baseDir: string, location: string): Promise<PgAuditReader> {
    const pool = openStorePool(store, baseDir);
    try {
      await checkPgSchema(pool);
    } catch (error) {
      await pool.end().catch(() => undefined);
      if (error instanceof WardenError) throw error;
      throw new WardenError('ERR_AUDIT_UNAVAILABLE', `audit log ${location}: ${describePgError(error)}`, {
        cause: error,
      });
    }
    return new PgAuditReader(pool, location);
  }

  private async rows<T = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const { text, values } = pgStatement(sql, params);
    return (await this.pool.query(text, values)).rows as T[];
  }

  /**
   * Serial plans only: a list is a walk down an index that stops at its limit, and PostgreSQL sometimes
   * plans it parallel (a filter it cannot estimate, such as an agent's failed calls), where starting the
   * workers cost more than the walk (10 M entries, loaded machine: 270-310 ms parallel, 115-130 serial).
   */
  async listRecords(filter: RecordFilter): Promise<RecordSummary[]> {
    const { sql, params } = listQuery(filter);
    const { text, values } = pgStatement(sql, params);
    const client = await this.pool.connect();
    let reusable = false;
    try {
      await client.query('BEGIN READ ONLY');
      await client.query('SET LOCAL max_parallel_workers_per_gather = 0');
      const rows = (await client.query(text, values)).rows as Record<string, unknown>[];
      await client.query('COMMIT');
      reusable = true;
      return rows.map(summary);
    } finally {
      client.release(!reusable);
    }
  }

  async getRecord(id: string): Promise<RecordDetail | { event: StoredEntry } | undefined> {
    const found = recordOf((await this.rows<PgEntryRow>(RECORD_ENTRIES, [id])).map(toStoredEntry));
    if (!found || 'event' in found) return found;
    const relays = relaysQuery(found, id);
    return { ...found, relays: (await this.rows(relays.sql, relays.params)).map(summary) };
  }

  async listEvents(filter: EventFilter): Promise<StoredEntry[]> {
    const { sql, params } = eventsQuery(filter);
    return (await this.rows<PgEntryRow>(sql, params)).map(toStoredEntry);
  }

  /**
   * Streamed through a cursor on a connection of its own (one read-only transaction, so one snapshot):
   * `EXPORT_PAGE` rows are held at a time however large the log, as SQLite's `iterate` does.
   */
  async *exportRecords(filter: RecordFilter): AsyncIterable<ExportedRecord> {
    const { sql, params } = exportQuery(filter);
    const { text, values } = pgStatement(sql, params);
    const client = await this.pool.connect();
    let state: 'open' | 'done' | 'failed' = 'open';
    try {
      await client.query('BEGIN READ ONLY');
      await client.query(`DECLARE audit_export NO SCROLL CURSOR FOR ${text}`, values);
      for (;;) {
        const page = (await client.query(`FETCH ${EXPORT_PAGE} FROM audit_export`)).rows as Record<string, unknown>[];
        for (const row of page) {
          for (const key of Object.keys(row)) if (NUMERIC_ENTRY_FIELD.test(key)) row[key] = num(row[key]);
          yield exportedRecord(row);
        }
        if (page.length < EXPORT_PAGE) break;
      }
      await client.query('COMMIT');
      state = 'done';
    } catch (error) {
      state = 'failed';
      throw error;
    } finally {
      // A consumer that stopped early leaves the transaction open: it is ended before the connection goes
      // back to the pool; a connection that failed, or cannot end it, is dropped.
      const reusable =
        state === 'done' ||
        (state === 'open' &&
          (await client.query('ROLLBACK').then(
            () => true,
            () => false,
          )));
      client.release(!reusable);
    }
  }

  async entriesAfter(afterSeq: number, limit: number): Promise<StoredEntry[]> {
    return (await this.rows<PgEntryRow>(ENTRIES_AFTER, [afterSeq, limit])).map(toStoredEntry);
  }

  async lastEntries(count: number): Promise<StoredEntry[]> {
    return (await this.rows<PgEntryRow>(LAST_ENTRIES, [count])).map(toStoredEntry).reverse();
  }

  async lastSeq(): Promise<number> {
    return Number((await this.rows<{ seq: string | null }>('SELECT max(seq) AS seq FROM entries'))[0]?.seq ?? 0);
  }

  async stats(filter: RecordFilter): Promise<Stats> {
    const q = statsQueries(filter);
    const total = (await this.rows(q.total, q.params))[0]!;
    const open = (await this.rows<{ n: string }>(q.open))[0]!.n;
    return {
      total: {
        calls: Number(total.calls),
        denied: Number(total.denied),
        errors: Number(total.errors),
        open: Number(open),
      },
      byAgent: (await this.rows(q.byAgent, q.params)).map(statsRow),
      byTool: (await this.rows(q.byTool, q.params)).map(statsRow),
      byOutcome: (await this.rows(q.byOutcome, q.params)).map((r) => ({
        outcome: r.outcome as string,
        count: Number(r.count),
      })),
    };
  }

  checkpoints(): Promise<CheckpointRow[]> {
    return pgCheckpoints(this.pool);
  }

  /** Runs one statement written for audit.db (the console's, src/console/queries.ts) through `pgStatement`. */
  query<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    return this.rows<T>(sql, params);
  }

  /** The last signed checkpoint, if any. */
  async lastCheckpoint(): Promise<CheckpointRow | undefined> {
    return (await pgCheckpoints(this.pool, 1))[0];
  }

  /** The public keys replicas published in the store. */
  publishedKeys(): Promise<Map<string, object>> {
    return pgPublishedKeys(this.pool);
  }

  /** The keys given, and the public keys replicas published in the store (each replica signs with its own). */
  async verify(publicKeys: ReadonlyMap<string, object>, external?: ExternalCheckpoints): Promise<VerifyReport> {
    const keys = new Map([...(await pgPublishedKeys(this.pool)), ...publicKeys]);
    return verifyPgChain(this.pool, keys, external);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
