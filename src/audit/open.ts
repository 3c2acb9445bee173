import type { LoadedConfig } from '../config/load.js';
import type { AuditConfig } from '../config/schema.js';
import type { StoreConfig } from '../config/store-schema.js';
import { WardenError, isWardenError } from '../errors.js';
import { KeyStore } from '../state/keys.js';
import type { Logger } from 'pino';
import type { AuditEvent } from '../pipeline/stages.js';
import { digestOf } from '../model/canonical.js';
import { SqliteAuditSink, type AuditLog } from './sink.js';
import { auditFile, describeDbError, openAuditDb, type Db } from './store.js';

export interface OpenAuditInput {
  dataDir: string;
  settings: AuditConfig;
  logger: Logger;
  /** Recorded in the `gateway.start` event (version, config file, mode). */
  details: Record<string, unknown>;
  redact?: (text: string) => string;
  /** The clock entries are stamped with (tests inject one). */
  now?: () => number;
}

/**
 * The audit stage on the configured store: `audit.db` in the data folder (`store.kind` sqlite), or the
 * store's PostgreSQL, shared by every replica (`postgres`; this replica's signing key still lives in the
 * data folder). Either way the gateway does not start without it.
 */
export async function openAudit(input: OpenAuditInput & { store: StoreConfig; baseDir: string }): Promise<AuditLog> {
  const { store, baseDir, ...rest } = input;
  if (store.kind === 'sqlite') return openAuditSink(rest);
  const { kind: _kind, ...pg } = store;
  // The PostgreSQL client is imported only when the store is configured.
  const { openPgAuditSink } = await import('./pg/open.js');
  return openPgAuditSink({ ...rest, pg, baseDir });
}

/**
 * Opens the audit database in the data folder and starts the audit stage: creates the gateway's signing
 * key on first start, marks intents left open by stopped gateways, records the start. Any failure is a
 * WardenError: the gateway must not start without its audit log.
 */
export async function openAuditSink(input: OpenAuditInput): Promise<SqliteAuditSink> {
  const file = auditFile(input.dataDir);
  const { settings } = input;
  let db: Db | undefined;
  try {
    db = openAuditDb(file, {
      durability: settings.durability,
      busyTimeoutMs: settings.busyTimeoutMs,
      ...(settings.maxDatabaseBytes !== undefined && { maxDatabaseBytes: settings.maxDatabaseBytes }),
    });
    const keys = new KeyStore(input.dataDir);
    await ensureSigningKey(db, keys, input.logger);
    const sink = new SqliteAuditSink({
      db,
      settings,
      keys,
      logger: input.logger,
      ...(input.redact && { redact: input.redact }),
      ...(input.now && { now: input.now }),
    });
    await sink.start(input.details);
    input.logger.info({ file, durability: settings.durability, instance: sink.instance }, 'audit log open');
    return sink;
  } catch (error) {
    if (db?.open) db.close();
    const cause = isWardenError(error)
      ? error.message.replace(/^audit log unavailable: /, '').replace(`${file}: `, '')
      : describeDbError(error);
    const code = isWardenError(error) && error.code !== 'ERR_AUDIT_UNAVAILABLE' ? error.code : 'ERR_AUDIT_UNAVAILABLE';
    throw new WardenError(code, `audit database ${file}: ${cause}; refusing to start (no audit, no action)`, {
      cause: error,
    });
  }
}

/**
 * `keys init` on first start. The database's write lock serialises it, so two gateways starting
 * together on one data folder do not both create (and one overwrite) a key.
 */
async function ensureSigningKey(db: Db, keys: KeyStore, logger: Logger): Promise<void> {
  if (keys.exists()) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    if (!keys.exists()) {
      const key = await keys.init(Date.now());
      logger.info(
        { kid: key.kid, file: keys.file },
        'created the gateway signing key (keys init); it signs audit checkpoints',
      );
    }
  } finally {
    db.exec('COMMIT');
  }
}

/** The `config.load` event: which file, its digest and what it configures (never values). */
export function configLoadEvent(loaded: LoadedConfig): AuditEvent {
  const { config } = loaded;
  return {
    type: 'config.load',
    data: {
      file: loaded.file,
      digest: digestOf(config).digest,
      servers: Object.keys(config.servers),
      authMode: config.auth?.mode,
      audit: {
        durability: config.audit.durability,
        captureResults: config.audit.captureResults,
        checkpointEvery: config.audit.checkpointEvery,
      },
    },
  };
}
