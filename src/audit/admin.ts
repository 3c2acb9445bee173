import { hostname } from 'node:os';
import type { AuditConfig } from '../config/schema.js';
import { WardenError } from '../errors.js';
import { pino } from 'pino';
import type { AuditEvent } from '../pipeline/stages.js';
import { newRecordId } from '../model/canonical.js';
import type { EntryInput } from './chain.js';
import { eventEntry } from './record.js';
import { auditFile, describeDbError, openAuditDb, type Db } from './store.js';
import { GroupCommitWriter } from './writer.js';

export interface AdminEventOptions {
  dataDir: string;
  settings: AuditConfig;
  /** Who acted (`alice@host`, a reviewer's subject): added to every event's data as `by`. */
  actor: string;
  /** Removes secret values from text before it is stored, as the gateway's sink does. */
  redact?: (text: string) => string;
}

/**
 * Appends events decided outside a gateway process (a reviewer's `approvals approve`, `tools approve`)
 * to the shared audit chain, as their own short-lived instance. The chain, not a checkpoint, protects
 * them until the next gateway signs one. Throws a WardenError when they cannot be written: the caller
 * must report that the decision was not recorded.
 */
export async function recordAdminEvents(options: AdminEventOptions, events: readonly AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  const file = auditFile(options.dataDir);
  let db: Db | undefined;
  try {
    db = openAuditDb(file, { durability: options.settings.durability, busyTimeoutMs: options.settings.busyTimeoutMs });
    const instance = newRecordId();
    const now = Date.now();
    db.prepare('INSERT INTO instances (id, host, pid, started_at) VALUES (?, ?, ?, ?)').run(
      instance,
      hostname(),
      process.pid,
      now,
    );
    const writer = new GroupCommitWriter({ db, instance, logger: pino({ level: 'silent' }) });
    const written = adminEntries(options, events, instance).map((entry) => writer.write(entry, 'event'));
    writer.flush();
    await Promise.all(written);
    db.prepare('UPDATE instances SET stopped_at = ?, ended = ? WHERE id = ?').run(Date.now(), 'stopped', instance);
  } catch (error) {
    throw new WardenError(
      'ERR_AUDIT_UNAVAILABLE',
      `audit database ${file}: ${error instanceof WardenError ? error.message : describeDbError(error)}`,
      { cause: error },
    );
  } finally {
    if (db?.open) db.close();
  }
}

/**
 * The entries of events decided outside a gateway process, under `instance`: each event's data gains
 * `by` (who acted), and is redacted and capped as the gateway's sink does. Both stores write these.
 */
export function adminEntries(
  options: Pick<AdminEventOptions, 'settings' | 'actor' | 'redact'>,
  events: readonly AuditEvent[],
  instance: string,
): EntryInput[] {
  const settings = {
    maxArgumentBytes: options.settings.maxArgumentBytes,
    maxResultBytes: options.settings.maxResultBytes,
    captureResults: options.settings.captureResults,
    redact: options.redact ?? ((text: string) => text),
  };
  return events.map((event) =>
    eventEntry({ ...event, data: { ...event.data, by: options.actor } }, instance, Date.now(), settings),
  );
}

/** The person running a CLI command, for the record: `$USER@host`. */
export function localActor(): string {
  const user = process.env.USER ?? process.env.LOGNAME ?? process.env.USERNAME ?? 'unknown';
  return `${user}@${hostname()}`;
}
