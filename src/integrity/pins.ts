// Over 300 lines: the pin table in state.db: its reads, the one transaction that records what was seen, and reviewers' decisions.
import type Database from 'better-sqlite3';
import { WardenError } from '../errors.js';
import type { AuditEvent } from '../pipeline/stages.js';
import { openStateDb, StateStore } from '../state/db.js';
import type { DefinitionKind, PinRow, PinStatus, PinningMode } from './types.js';

export interface PinKey {
  server: string;
  kind: DefinitionKind;
  /** The name as the downstream spells it. */
  name: string;
}

/** One definition as a gateway saw it in a server's list. */
export interface Observation extends PinKey {
  exposed: string;
  hash: string;
  /** The pinned parts (src/integrity/hash.ts `pinnedParts`), as the downstream sent them. */
  definition: unknown;
  flags: readonly string[];
}

export interface PinState extends PinKey {
  exposed: string;
  status: PinStatus;
  pinnedHash: string | undefined;
  currentHash: string;
}

export interface ServerPinning {
  mode: PinningMode;
  quarantineFlagged: boolean;
}

interface RawPin {
  server: string;
  kind: DefinitionKind;
  name: string;
  exposed: string;
  status: PinStatus;
  pinned_hash: string | null;
  pinned_definition: string | null;
  current_hash: string;
  current_definition: string;
  flags: string;
  first_seen_at: number;
  updated_at: number;
  decided_at: number | null;
  decided_by: string | null;
}

const MAX_LIST = 10_000;

/**
 * Definition pins in `<dataDir>/state.db`, shared by every gateway process and the CLI on the data
 * folder. Every change runs in one BEGIN IMMEDIATE transaction that re-reads the row first, so two
 * gateways seeing the same change record it once, and a reviewer's decision applies to the definition
 * they looked at (`expectedHash`) or not at all.
 */
export class PinStore extends StateStore {
  private constructor(file: string, db: Database.Database) {
    super(file, db);
  }

  static open(file: string, options: { readonly?: boolean; busyTimeoutMs?: number } = {}): PinStore {
    return new PinStore(file, openStateDb(file, options));
  }

  list(filter: { status?: PinStatus; server?: string; limit?: number; offset?: number } = {}): PinRow[] {
    const where: string[] = [];
    if (filter.status !== undefined) where.push('status = @status');
    if (filter.server !== undefined) where.push('server = @server');
    const rows = this.db
      .prepare(
        `SELECT * FROM definition_pins ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY server, kind DESC, name LIMIT @limit OFFSET @offset`,
      )
      .all({
        ...(filter.status !== undefined && { status: filter.status }),
        ...(filter.server !== undefined && { server: filter.server }),
        limit: Math.min(Math.max(filter.limit ?? MAX_LIST, 0), MAX_LIST),
        offset: Math.max(filter.offset ?? 0, 0),
      }) as RawPin[];
    return rows.map(fromRaw);
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
    return rows.map(fromRaw);
  }

  /** Keys, names, statuses and hashes of every row, without the definitions: what a gateway caches. */
  statuses(): PinState[] {
    const rows = this.db
      .prepare('SELECT server, kind, name, exposed, status, pinned_hash, current_hash FROM definition_pins')
      .all() as Pick<RawPin, 'server' | 'kind' | 'name' | 'exposed' | 'status' | 'pinned_hash' | 'current_hash'>[];
    return rows.map((r) => ({
      server: r.server,
      kind: r.kind,
      name: r.name,
      exposed: r.exposed,
      status: r.status,
      pinnedHash: r.pinned_hash ?? undefined,
      currentHash: r.current_hash,
    }));
  }

  get(key: PinKey): PinRow | undefined {
    const raw = this.db
      .prepare('SELECT * FROM definition_pins WHERE server = ? AND kind = ? AND name = ?')
      .get(key.server, key.kind, key.name) as RawPin | undefined;
    return raw && fromRaw(raw);
  }

  /**
   * Records what a gateway saw, in one transaction, and returns the audit events it caused (empty when
   * nothing was new). Rules, per definition:
   * - first sight: `trust-on-first-use` pins it (or quarantines it when flagged and the server says
   *   so); `require-approval` leaves it pending; servers with `off` are never recorded;
   * - the same hash as last seen: nothing (a new exposed name is updated quietly);
   * - a different hash: quarantined (pending stays pending); a rejected definition that returns to the
   *   pinned one is pinned again, but a quarantine is only ever lifted by a person.
   */
  observe(
    observations: readonly Observation[],
    pinningOf: (server: string) => ServerPinning,
    now: number,
  ): AuditEvent[] {
    if (observations.length === 0) return [];
    return this.db
      .transaction(() => {
        const events: AuditEvent[] = [];
        for (const seen of observations) {
          const pinning = pinningOf(seen.server);
          if (pinning.mode === 'off') continue;
          const row = this.get(seen);
          if (!row) {
            events.push(...this.firstSight(seen, pinning, now));
            continue;
          }
          // A quarantine is lifted by a person only: seeing the approved definition again changes nothing.
          if (row.status === 'quarantined' && row.pinnedHash === seen.hash) continue;
          if (row.currentHash === seen.hash) {
            if (row.exposed !== seen.exposed)
              this.db
                .prepare('UPDATE definition_pins SET exposed = ? WHERE server = ? AND kind = ? AND name = ?')
                .run(seen.exposed, seen.server, seen.kind, seen.name);
            continue;
          }
          events.push(...this.changed(row, seen, pinning, now));
        }
        return events;
      })
      .immediate();
  }

  private firstSight(seen: Observation, pinning: ServerPinning, now: number): AuditEvent[] {
    const flaggedOut = pinning.quarantineFlagged && seen.flags.length > 0;
    const status: PinStatus = pinning.mode === 'require-approval' ? 'pending' : flaggedOut ? 'quarantined' : 'pinned';
    this.db
      .prepare(
        `INSERT INTO definition_pins (server, kind, name, exposed, status, pinned_hash, pinned_definition, current_hash, current_definition, flags, first_seen_at, updated_at)
         VALUES (@server, @kind, @name, @exposed, @status, @pinnedHash, @pinnedDefinition, @hash, @definition, @flags, @now, @now)`,
      )
      .run({
        server: seen.server,
        kind: seen.kind,
        name: seen.name,
        exposed: seen.exposed,
        status,
        pinnedHash: status === 'pinned' ? seen.hash : null,
        pinnedDefinition: status === 'pinned' ? JSON.stringify(seen.definition) : null,
        hash: seen.hash,
        definition: JSON.stringify(seen.definition),
        flags: JSON.stringify(seen.flags),
        now,
      });
    const reason =
      status === 'pinned'
        ? 'first seen: trusted on first use'
        : status === 'pending'
          ? 'first seen: waits for approval (require-approval)'
          : 'first seen with flagged text (quarantineFlagged)';
    return [
      pinEvent(status === 'pinned' ? 'tool.pin' : 'tool.quarantine', seen, { status, previousHash: null, reason }),
    ];
  }

  private changed(row: PinRow, seen: Observation, pinning: ServerPinning, now: number): AuditEvent[] {
    let status: PinStatus;
    if (row.status === 'pending') status = 'pending';
    else if (seen.hash === row.pinnedHash) status = 'pinned';
    else status = 'quarantined';
    this.db
      .prepare(
        `UPDATE definition_pins SET exposed = @exposed, status = @status, current_hash = @hash, current_definition = @definition, flags = @flags, updated_at = @now
         WHERE server = @server AND kind = @kind AND name = @name`,
      )
      .run({
        server: seen.server,
        kind: seen.kind,
        name: seen.name,
        exposed: seen.exposed,
        status,
        hash: seen.hash,
        definition: JSON.stringify(seen.definition),
        flags: JSON.stringify(seen.flags),
        now,
      });
    const events = [
      pinEvent('tool.change', seen, {
        status,
        previousHash: row.currentHash,
        pinnedHash: row.pinnedHash ?? null,
        mode: pinning.mode,
      }),
    ];
    if (status === 'quarantined' && row.status !== 'quarantined') {
      events.push(
        pinEvent('tool.quarantine', seen, {
          status,
          previousHash: row.pinnedHash ?? row.currentHash,
          reason: 'the definition differs from the approved one',
        }),
      );
    }
    return events;
  }

  /**
   * A person approves the current definition: it becomes the pinned one. Throws ERR_PIN_NOT_FOUND,
   * ERR_PIN_CHANGED (the definition is no longer `expectedHash`: it changed under the reviewer) or
   * ERR_PIN_NOTHING_TO_APPROVE (already pinned at this hash).
   */
  approve(key: PinKey, by: string, now: number, expectedHash?: string): PinRow {
    return this.decide(key, expectedHash, (row) => {
      if (row.status === 'pinned' && row.pinnedHash === row.currentHash) {
        throw new WardenError(
          'ERR_PIN_NOTHING_TO_APPROVE',
          `${describeKey(row)} is already pinned at ${row.currentHash}; nothing to approve`,
        );
      }
      this.db
        .prepare(
          `UPDATE definition_pins SET status = 'pinned', pinned_hash = current_hash, pinned_definition = current_definition, decided_at = ?, decided_by = ?, updated_at = ?
           WHERE server = ? AND kind = ? AND name = ?`,
        )
        .run(now, by, now, key.server, key.kind, key.name);
    });
  }

  /**
   * A person rejects the current definition: hidden and refused until the server presents another one.
   * Throws ERR_PIN_NOT_FOUND, ERR_PIN_CHANGED or ERR_PIN_NOTHING_TO_REJECT (already rejected).
   */
  reject(key: PinKey, by: string, now: number, expectedHash?: string): PinRow {
    return this.decide(key, expectedHash, (row) => {
      if (row.status === 'rejected')
        throw new WardenError(
          'ERR_PIN_NOTHING_TO_REJECT',
          `${describeKey(row)} is already rejected at ${row.currentHash}`,
        );
      this.db
        .prepare(
          `UPDATE definition_pins SET status = 'rejected', decided_at = ?, decided_by = ?, updated_at = ? WHERE server = ? AND kind = ? AND name = ?`,
        )
        .run(now, by, now, key.server, key.kind, key.name);
    });
  }

  private decide(key: PinKey, expectedHash: string | undefined, apply: (row: PinRow) => void): PinRow {
    return this.db
      .transaction(() => {
        const row = this.get(key);
        if (!row)
          throw new WardenError(
            'ERR_PIN_NOT_FOUND',
            `no ${key.kind} ${key.server}/${key.name} has been seen by a gateway on this data folder`,
          );
        if (expectedHash !== undefined && row.currentHash !== expectedHash) {
          throw new WardenError(
            'ERR_PIN_CHANGED',
            `${describeKey(row)} changed again: its definition is now ${row.currentHash}, not ${expectedHash}; review it again (mcp-warden tools diff ${row.exposed})`,
          );
        }
        apply(row);
        return this.get(key)!;
      })
      .immediate();
  }
}

/** The audit event for a pin row change: data holds `{ kind, name, exposed, previousHash, hash, flags }` and more. */
export function pinEvent(
  type: string,
  seen: Omit<Observation, 'definition'>,
  extra: Record<string, unknown>,
): AuditEvent {
  return {
    type,
    server: seen.server,
    target: seen.exposed,
    data: {
      kind: seen.kind,
      name: seen.name,
      exposed: seen.exposed,
      hash: seen.hash,
      flags: [...seen.flags],
      ...extra,
    },
  };
}

export function describeKey(row: PinKey): string {
  return `${row.kind} ${row.server}/${row.name}`;
}

function fromRaw(raw: RawPin): PinRow {
  return {
    server: raw.server,
    kind: raw.kind,
    name: raw.name,
    exposed: raw.exposed,
    status: raw.status,
    ...(raw.pinned_hash !== null && { pinnedHash: raw.pinned_hash }),
    ...(raw.pinned_definition !== null && { pinnedDefinition: JSON.parse(raw.pinned_definition) as unknown }),
    currentHash: raw.current_hash,
    currentDefinition: JSON.parse(raw.current_definition) as unknown,
    flags: JSON.parse(raw.flags) as string[],
    firstSeenAt: raw.first_seen_at,
    updatedAt: raw.updated_at,
    ...(raw.decided_at !== null && { decidedAt: raw.decided_at }),
    ...(raw.decided_by !== null && { decidedBy: raw.decided_by }),
  };
}
