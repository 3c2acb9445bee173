import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { WardenError } from '../errors.js';

export const STATE_FILE = 'state.db';

/** `<dataDir>/state.db`: what every gateway process on one data folder shares besides the audit log. */
export function stateFile(dataDir: string): string {
  return join(dataDir, STATE_FILE);
}

// Versioned migrations, applied inside BEGIN IMMEDIATE with the user_version bump (several gateways may start at once).
// Never edit one that has shipped: append.
const MIGRATIONS: readonly string[] = [
  // 1: tasks and agent revocations (src/tasks/store.ts).
  `CREATE TABLE tasks (
     id         TEXT    NOT NULL,
     issuer     TEXT    NOT NULL,
     subject    TEXT    NOT NULL,
     source     TEXT    NOT NULL CHECK (source IN ('token', 'session')),
     purpose    TEXT,
     grants     TEXT,
     parent     TEXT,
     session    TEXT,
     gateway    TEXT    NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER,
     ended_at   INTEGER,
     end_reason TEXT,
     PRIMARY KEY (id, issuer, subject)
   );
   CREATE INDEX tasks_open ON tasks (ended_at, expires_at);
   CREATE INDEX tasks_subject ON tasks (subject);
   CREATE TABLE agent_revocations (
     subject    TEXT    NOT NULL,
     issuer     TEXT    NOT NULL,
     revoked_at INTEGER NOT NULL,
     reason     TEXT,
     PRIMARY KEY (subject, issuer)
   );`,
  // 2: tool and prompt definition pins (src/integrity/pins.ts) and call approvals (src/integrity/approvals.ts).
  `CREATE TABLE definition_pins (
     server             TEXT    NOT NULL,
     kind               TEXT    NOT NULL CHECK (kind IN ('tool', 'prompt')),
     name               TEXT    NOT NULL,
     exposed            TEXT    NOT NULL,
     status             TEXT    NOT NULL CHECK (status IN ('pinned', 'quarantined', 'pending', 'rejected')),
     pinned_hash        TEXT,
     pinned_definition  TEXT,
     current_hash       TEXT    NOT NULL,
     current_definition TEXT    NOT NULL,
     flags              TEXT    NOT NULL DEFAULT '[]',
     first_seen_at      INTEGER NOT NULL,
     updated_at         INTEGER NOT NULL,
     decided_at         INTEGER,
     decided_by         TEXT,
     PRIMARY KEY (server, kind, name)
   );
   CREATE INDEX definition_pins_exposed ON definition_pins (exposed);
   CREATE INDEX definition_pins_status ON definition_pins (status);
   CREATE TABLE approvals (
     id               TEXT    PRIMARY KEY,
     binding          TEXT    NOT NULL,
     status           TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used', 'expired')),
     channel          TEXT    NOT NULL CHECK (channel IN ('elicitation', 'out-of-band')),
     issuer           TEXT    NOT NULL,
     subject          TEXT    NOT NULL,
     task_id          TEXT,
     server           TEXT    NOT NULL,
     tool             TEXT    NOT NULL,
     definition_hash  TEXT    NOT NULL,
     arguments_digest TEXT    NOT NULL,
     summary          TEXT    NOT NULL,
     call_id          TEXT,
     created_at       INTEGER NOT NULL,
     expires_at       INTEGER NOT NULL,
     decided_at       INTEGER,
     decided_by       TEXT,
     reason           TEXT,
     used_at          INTEGER
   );
   CREATE INDEX approvals_binding ON approvals (binding, status);
   CREATE INDEX approvals_open ON approvals (status, expires_at);`,
  // 3: reviewer console sign-in (src/console/sessions.ts): one-time login codes and sessions, stored as SHA-256 digests only.
  `CREATE TABLE console_login_codes (
     digest     TEXT    PRIMARY KEY,
     subject    TEXT    NOT NULL,
     issuer     TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     used_at    INTEGER
   );
   CREATE TABLE console_sessions (
     digest     TEXT    PRIMARY KEY,
     subject    TEXT    NOT NULL,
     issuer     TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     ended_at   INTEGER
   );
   CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);`,
  // 4: reviewer console: each session's random CSRF token, stored as a SHA-256 digest (src/console/sessions.ts).
  `ALTER TABLE console_sessions ADD COLUMN csrf_digest TEXT;`,
  // 5: approvals are bound to the tenant too (src/integrity/approvals.ts): one subject in two tenants shares nothing.
  `ALTER TABLE approvals ADD COLUMN tenant TEXT;`,
  // 6: revoked token ids (src/tasks/store.ts): a token, and every token delegated from it, is refused.
  `CREATE TABLE token_revocations (
     token_id   TEXT    NOT NULL PRIMARY KEY,
     revoked_at INTEGER NOT NULL,
     reason     TEXT
   );`,
  // 7: task ids revoked before any gateway saw them (a parent's token task, src/tasks/store.ts): a token
  // naming the task, or delegated within it, is refused whenever it first shows up.
  `CREATE TABLE task_revocations (
     task_id    TEXT    NOT NULL PRIMARY KEY,
     revoked_at INTEGER NOT NULL
   );`,
  // 8: rate-limit buckets shared by every process on the data folder (src/state/sqlite-shared.ts).
  `CREATE TABLE rate_buckets (
     key        TEXT    PRIMARY KEY,
     tokens     REAL    NOT NULL,
     updated_at INTEGER NOT NULL,
     full_at    INTEGER NOT NULL
   );
   CREATE INDEX rate_buckets_full ON rate_buckets (full_at);`,
  // 9: signing keys' public halves (src/state/sqlite-shared.ts), as the PostgreSQL store keeps them for
  // every replica; processes on one data folder share the key file itself.
  `CREATE TABLE signing_keys (
     kid        TEXT    PRIMARY KEY,
     public_jwk TEXT    NOT NULL,
     created_at INTEGER NOT NULL,
     retired_at INTEGER
   );`,
  // 10: spent single-use ids (src/state/sqlite-shared.ts), as the PostgreSQL store keeps them for every replica.
  `CREATE TABLE spent_states (
     id         TEXT    PRIMARY KEY,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX spent_states_expiry ON spent_states (expires_at);`,
];

/** The schema version this build writes. */
export const STATE_SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens `state.db` (WAL, busy timeout) and brings its schema up to date. Read-only opens never migrate
 * and require the file to exist. Throws ERR_STATE_UNAVAILABLE naming the file.
 */
export function openStateDb(
  file: string,
  options: { busyTimeoutMs?: number; readonly?: boolean } = {},
): Database.Database {
  let db: Database.Database | undefined;
  try {
    if (!options.readonly) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    db = new Database(file, { readonly: options.readonly === true, fileMustExist: options.readonly === true });
    db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 2_000)}`);
    if (!options.readonly) {
      if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal')
        throw new Error('cannot switch to WAL mode (read-only file or folder?)');
      db.pragma('synchronous = NORMAL');
      migrate(db);
    }
    return db;
  } catch (error) {
    db?.close();
    throw new WardenError('ERR_STATE_UNAVAILABLE', `state database ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length)
    throw new Error(`schema version ${current} is newer than this mcp-warden understands (${MIGRATIONS.length})`);
  for (let version = current; version < MIGRATIONS.length; version += 1) {
    db.transaction(() => {
      // Another process may have applied it while this one waited for the write lock.
      if ((db.pragma('user_version', { simple: true }) as number) !== version) return;
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}

/**
 * What every store on `state.db` shares (tasks, pins, approvals, console sessions): its own connection,
 * the cheap "has another connection committed?" check, and closing.
 */
export abstract class StateStore {
  private versionStatement: Database.Statement | undefined;

  protected constructor(
    readonly file: string,
    protected readonly db: Database.Database,
  ) {}

  /** Changes whenever another connection commits. Prepared once: some stores check it on every call. */
  dataVersion(): number {
    this.versionStatement ??= this.db.prepare('PRAGMA data_version').pluck();
    return this.versionStatement.get() as number;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
