import { hostname } from 'node:os';
import { pino } from 'pino';
import type { AuditConfig } from '../../config/schema.js';
import type { PostgresStoreConfig } from '../../config/store-schema.js';
import { WardenError } from '../../errors.js';
import { newRecordId } from '../../model/canonical.js';
import type { AuditEvent } from '../../pipeline/stages.js';
import { describePgError } from '../../state/pg/pool.js';
import { adminEntries } from '../admin.js';
import { PgBackend } from './backend.js';
import { openPgAuditStore } from './open.js';

export interface PgAdminEventOptions {
  store: PostgresStoreConfig;
  baseDir: string;
  settings: AuditConfig;
  /** Who acted (`alice@host`): added to every event's data as `by`. */
  actor: string;
  redact?: (text: string) => string;
}

/**
 * `recordAdminEvents` (src/audit/admin.ts) for a store on PostgreSQL: events decided outside a replica (a
 * reviewer's `approvals approve`) appended to the shared chain as their own short-lived instance,
 * registered and marked stopped, so no replica takes its entries for a dead replica's. Throws a
 * WardenError when they cannot be written: the caller reports that the decision was not recorded.
 */
export async function recordPgAdminEvents(options: PgAdminEventOptions, events: readonly AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  let backend: PgBackend | undefined;
  try {
    const { kind: _kind, ...pg } = options.store;
    const pool = await openPgAuditStore(pg, options.baseDir);
    const instance = newRecordId();
    backend = new PgBackend({ pool, instance, logger: pino({ level: 'silent' }) });
    await backend.register(instance, hostname(), process.pid, Date.now());
    const written = adminEntries(options, events, instance).map((entry) => backend!.write(entry, 'event'));
    await backend.flush();
    await Promise.all(written);
    await backend.markStopped(instance, Date.now());
  } catch (error) {
    throw new WardenError(
      'ERR_AUDIT_UNAVAILABLE',
      `audit log on PostgreSQL: ${error instanceof WardenError ? error.message : describePgError(error)}`,
      { cause: error },
    );
  } finally {
    await backend?.close().catch(() => undefined);
  }
}
