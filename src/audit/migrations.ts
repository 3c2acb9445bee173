import type { Database } from 'better-sqlite3';
import { WardenError } from '../errors.js';

/** 'WARD': marks the file as an mcp-warden audit database. */
export const APPLICATION_ID = 0x57415244;

interface Migration {
  version: number;
  sql: string;
}

/**
 * Versioned, append-only: a released migration is never edited, a change is a new entry. Each runs in
 * one `BEGIN IMMEDIATE` transaction with the `user_version` bump, so two processes starting at once
 * cannot both apply it.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      -- The hash chain: append-only. One intent and one outcome per delegated action (same id), and events.
      CREATE TABLE entries (
        seq        INTEGER PRIMARY KEY,
        id         TEXT    NOT NULL,
        kind       TEXT    NOT NULL CHECK (kind IN ('intent', 'outcome', 'event')),
        ts         INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        instance   TEXT    NOT NULL,
        type       TEXT    NOT NULL,
        subject    TEXT,
        task_id    TEXT,
        server     TEXT,
        target     TEXT,
        decision   TEXT,
        outcome    TEXT,
        body       TEXT    NOT NULL,
        prev_hash  TEXT    NOT NULL,
        hash       TEXT    NOT NULL
      );
      CREATE INDEX entries_id       ON entries (id, kind);
      CREATE INDEX intents_started  ON entries (started_at) WHERE kind = 'intent';
      CREATE INDEX intents_subject  ON entries (subject, started_at) WHERE kind = 'intent';
      CREATE INDEX intents_task     ON entries (task_id, started_at) WHERE kind = 'intent';
      CREATE INDEX intents_server   ON entries (server, started_at) WHERE kind = 'intent';
      CREATE INDEX intents_target   ON entries (target, started_at) WHERE kind = 'intent';
      CREATE INDEX intents_decision ON entries (decision, started_at) WHERE kind = 'intent';
      CREATE INDEX outcomes_outcome ON entries (outcome, started_at) WHERE kind = 'outcome';
      CREATE INDEX events_type      ON entries (type, ts) WHERE kind = 'event';

      -- The writers' memory of the chain's end: the next entry links to this hash.
      CREATE TABLE chain_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  INTEGER NOT NULL,
        hash TEXT    NOT NULL
      );

      -- Signed checkpoints (JWS, EdDSA), each naming the previous one's signature.
      CREATE TABLE checkpoints (
        id       INTEGER PRIMARY KEY,
        seq      INTEGER NOT NULL,
        hash     TEXT    NOT NULL,
        count    INTEGER NOT NULL,
        ts       INTEGER NOT NULL,
        kid      TEXT    NOT NULL,
        instance TEXT    NOT NULL,
        prev_sig TEXT,
        jws      TEXT    NOT NULL
      );

      -- Where pruning cut the chain: the last removed entry's seq and hash.
      CREATE TABLE anchors (
        seq    INTEGER PRIMARY KEY,
        hash   TEXT    NOT NULL,
        ts     INTEGER NOT NULL,
        rows   INTEGER NOT NULL,
        before INTEGER NOT NULL
      );

      -- Operational state, not evidence: running gateways, and intents still waiting for an outcome.
      CREATE TABLE instances (
        id         TEXT    PRIMARY KEY,
        host       TEXT    NOT NULL,
        pid        INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        stopped_at INTEGER,
        ended      TEXT
      );
      CREATE TABLE open_intents (
        id       TEXT    PRIMARY KEY,
        instance TEXT    NOT NULL,
        seq      INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX open_intents_instance ON open_intents (instance);
    `,
  },
  {
    version: 2,
    sql: `
      -- The reviewer console: search by trace id; charts and agent activity over a time window of outcomes (covering).
      CREATE INDEX intents_trace    ON entries (json_extract(body, '$.traceId')) WHERE kind = 'intent';
      CREATE INDEX outcomes_started ON entries (started_at, subject, target, outcome) WHERE kind = 'outcome';
    `,
  },
  {
    version: 3,
    sql: `
      -- The reviewer console: the events of one task, newest first (a call's page, GET /api/events?task=).
      CREATE INDEX events_task      ON entries (task_id, seq) WHERE kind = 'event';
    `,
  },
  {
    version: 4,
    sql: `
      -- open_intents only ever holds the calls in flight, and is read by instance only at start-up:
      -- a scan is free there, while the index cost every intent and outcome commit one more page.
      DROP INDEX IF EXISTS open_intents_instance;
    `,
  },
  {
    version: 5,
    sql: `
      -- Cheaper rows (issue 21): most calls are allowed and end ok, and a reviewer filters by decision or
      -- outcome to find the others (an allowed or ok call is found as fast through the time index, most rows
      -- being those). Only refused intents and outcomes other than ok are written to these indexes; a query
      -- uses them by restating the index's condition (src/audit/queries.ts, refusedOnly / failedOnly).
      DROP INDEX IF EXISTS intents_decision;
      DROP INDEX IF EXISTS outcomes_outcome;
      CREATE INDEX intents_refused ON entries (decision, started_at) WHERE kind = 'intent' AND decision <> 'allow';
      CREATE INDEX outcomes_failed ON entries (outcome, started_at) WHERE kind = 'outcome' AND outcome <> 'ok';
    `,
  },
  {
    version: 6,
    sql: `
      -- Cheaper rows (issue 21): a call or event without a task wrote a NULL key into the task indexes, which
      -- no query reads (a task filter is always a value or a glob). Now only rows with a task are indexed;
      -- \`task_id = ?\` and \`task_id GLOB ?\` imply \`task_id IS NOT NULL\`, so SQLite still uses them.
      DROP INDEX IF EXISTS intents_task;
      DROP INDEX IF EXISTS events_task;
      CREATE INDEX intents_task ON entries (task_id, started_at) WHERE kind = 'intent' AND task_id IS NOT NULL;
      CREATE INDEX events_task  ON entries (task_id, seq) WHERE kind = 'event' AND task_id IS NOT NULL;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** Brings the schema up to date; refuses a file written by a newer version or not an audit database. */
export function migrate(db: Database, file: string): void {
  checkIdentity(db, file);
  if (db.pragma('user_version', { simple: true }) === SCHEMA_VERSION) return;
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current === 0) db.pragma(`application_id = ${APPLICATION_ID}`);
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }
  }).immediate();
}

/** For read-only opens: the schema must already be the one this version reads. */
export function checkSchema(db: Database, file: string): void {
  checkIdentity(db, file);
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version === 0)
    throw new WardenError('ERR_AUDIT_INVALID', `${file}: empty audit database (no gateway has written to it yet)`);
  if (version !== SCHEMA_VERSION) {
    throw new WardenError(
      'ERR_AUDIT_INVALID',
      `${file}: schema version ${version}; this mcp-warden reads version ${SCHEMA_VERSION} (start the gateway once to migrate)`,
    );
  }
}

function checkIdentity(db: Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  const appId = db.pragma('application_id', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new WardenError(
      'ERR_AUDIT_INVALID',
      `${file}: schema version ${version} was written by a newer mcp-warden (this one knows ${SCHEMA_VERSION})`,
    );
  }
  if (appId !== 0 && appId !== APPLICATION_ID)
    throw new WardenError('ERR_AUDIT_INVALID', `${file}: not an mcp-warden audit database`);
  const foreign =
    appId === 0 &&
    (version !== 0 || (db.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }).n > 0);
  if (foreign) throw new WardenError('ERR_AUDIT_INVALID', `${file}: not an mcp-warden audit database`);
}
