import type Database from 'better-sqlite3';
import { openStateDb, StateStore } from './db.js';
import {
  MAX_PIN_LIST,
  PIN_ORDER,
  checkPinDecision,
  pinFromRaw,
  pinStateOf,
  planObservation,
  type Observation,
  type PinEvent,
  type PinFilter,
  type PinKey,
  type PinRow,
  type PinState,
  type RawPin,
  type ServerPinning,
  type SharedPins,
} from './pin-rows.js';

/**
 * Definition pins in `<dataDir>/state.db`, shared by every gateway process and the CLI on the data
 * folder (synchronously: a gateway re-reads them when `dataVersion` says another process committed).
 * Every change runs in one BEGIN IMMEDIATE transaction that re-reads the row first (src/state/pin-rows.ts
 * has the rules).
 */
export class PinStore extends StateStore {
  private constructor(file: string, db: Database.Database) {
    super(file, db);
  }

  static open(file: string, options: { readonly?: boolean; busyTimeoutMs?: number } = {}): PinStore {
    return new PinStore(file, openStateDb(file, options));
  }

  /** Where the pins are, for log lines. */
  get where(): string {
    return this.file;
  }

  list(filter: PinFilter = {}): PinRow[] {
    const where: string[] = [];
    if (filter.status !== undefined) where.push('status = @status');
    if (filter.server !== undefined) where.push('server = @server');
    const rows = this.db
      .prepare(
        `SELECT * FROM definition_pins ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ${PIN_ORDER} LIMIT @limit OFFSET @offset`,
      )
      .all({
        ...(filter.status !== undefined && { status: filter.status }),
        ...(filter.server !== undefined && { server: filter.server }),
        limit: Math.min(Math.max(filter.limit ?? MAX_PIN_LIST, 0), MAX_PIN_LIST),
        offset: Math.max(filter.offset ?? 0, 0),
      }) as RawPin[];
    return rows.map(pinFromRaw);
  }

  /** Rows a reviewer means by `ref`: an exposed name (`notes__read_note`) or `server/name`; tools and prompts alike. */
  find(ref: string): PinRow[] {
    const slash = ref.indexOf('/');
    const rows =
      slash > 0
        ? (this.db
            .prepare('SELECT * FROM definition_pins WHERE server = ? AND name = ? ORDER BY kind DESC')
            .all(ref.slice(0, slash), ref.slice(slash + 1)) as RawPin[])
        : (this.db
            .prepare('SELECT * FROM definition_pins WHERE exposed = ? ORDER BY server, kind DESC')
            .all(ref) as RawPin[]);
    return rows.map(pinFromRaw);
  }

  /** Keys, names, statuses and hashes of every row, without the definitions: what a gateway caches. */
  statuses(): PinState[] {
    const rows = this.db
      .prepare('SELECT server, kind, name, exposed, status, pinned_hash, current_hash FROM definition_pins')
      .all() as Pick<RawPin, 'server' | 'kind' | 'name' | 'exposed' | 'status' | 'pinned_hash' | 'current_hash'>[];
    return rows.map(pinStateOf);
  }

  get(key: PinKey): PinRow | undefined {
    const raw = this.db
      .prepare('SELECT * FROM definition_pins WHERE server = ? AND kind = ? AND name = ?')
      .get(key.server, key.kind, key.name) as RawPin | undefined;
    return raw && pinFromRaw(raw);
  }

  /** Records what a gateway saw, in one transaction; the audit events it caused (empty when nothing was new). */
  observe(observations: readonly Observation[], pinningOf: (server: string) => ServerPinning, now: number): PinEvent[] {
    if (observations.length === 0) return [];
    return this.db
      .transaction(() => {
        const events: PinEvent[] = [];
        for (const seen of observations) {
          const plan = planObservation(this.get(seen), seen, pinningOf(seen.server));
          events.push(...plan.events);
          const write = plan.write;
          if (!write) continue;
          const key = { server: seen.server, kind: seen.kind, name: seen.name };
          if (write.kind === 'exposed')
            this.db
              .prepare(
                'UPDATE definition_pins SET exposed = @exposed WHERE server = @server AND kind = @kind AND name = @name',
              )
              .run({ ...key, exposed: seen.exposed });
          else if (write.kind === 'insert')
            this.db
              .prepare(
                `INSERT INTO definition_pins (server, kind, name, exposed, status, pinned_hash, pinned_definition, current_hash, current_definition, flags, first_seen_at, updated_at)
                 VALUES (@server, @kind, @name, @exposed, @status, @pinnedHash, @pinnedDefinition, @hash, @definition, @flags, @now, @now)`,
              )
              .run({
                ...key,
                exposed: seen.exposed,
                status: write.status,
                pinnedHash: write.pinnedHash,
                pinnedDefinition: write.pinnedDefinition,
                hash: write.hash,
                definition: write.definition,
                flags: write.flags,
                now,
              });
          else
            this.db
              .prepare(
                `UPDATE definition_pins SET exposed = @exposed, status = @status, current_hash = @hash, current_definition = @definition, flags = @flags, updated_at = @now
                 WHERE server = @server AND kind = @kind AND name = @name`,
              )
              .run({
                ...key,
                exposed: seen.exposed,
                status: write.status,
                hash: write.hash,
                definition: write.definition,
                flags: write.flags,
                now,
              });
        }
        return events;
      })
      .immediate();
  }

  /** A person approves the current definition: it becomes the pinned one (src/state/pin-rows.ts `checkPinDecision`). */
  approve(key: PinKey, by: string, now: number, expectedHash?: string): PinRow {
    return this.decide(key, 'approve', expectedHash, () =>
      this.db
        .prepare(
          `UPDATE definition_pins SET status = 'pinned', pinned_hash = current_hash, pinned_definition = current_definition, decided_at = ?, decided_by = ?, updated_at = ?
           WHERE server = ? AND kind = ? AND name = ?`,
        )
        .run(now, by, now, key.server, key.kind, key.name),
    );
  }

  /** A person rejects the current definition: hidden and refused until the server presents another one. */
  reject(key: PinKey, by: string, now: number, expectedHash?: string): PinRow {
    return this.decide(key, 'reject', expectedHash, () =>
      this.db
        .prepare(
          `UPDATE definition_pins SET status = 'rejected', decided_at = ?, decided_by = ?, updated_at = ? WHERE server = ? AND kind = ? AND name = ?`,
        )
        .run(now, by, now, key.server, key.kind, key.name),
    );
  }

  private decide(key: PinKey, verb: 'approve' | 'reject', expectedHash: string | undefined, apply: () => void): PinRow {
    return this.db
      .transaction(() => {
        checkPinDecision(key, this.get(key), verb, expectedHash);
        apply();
        return this.get(key)!;
      })
      .immediate();
  }
}

/** The pins on `state.db` behind the shared interface (each runs at once, synchronously). */
export function sqlitePins(store: PinStore): SharedPins {
  return {
    listPins: async (filter) => store.list(filter),
    findPins: async (ref) => store.find(ref),
    pinStatuses: async () => store.statuses(),
    getPin: async (key) => store.get(key),
    observePins: async (observations, pinningOf, now) => store.observe(observations, pinningOf, now),
    approvePin: async (key, by, now, expectedHash) => store.approve(key, by, now, expectedHash),
    rejectPin: async (key, by, now, expectedHash) => store.reject(key, by, now, expectedHash),
  };
}
