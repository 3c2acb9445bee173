// The definition pins table's rows and rules, shared by both stores (state.db: sqlite-pins.ts; PostgreSQL:
// pg/pins.ts): the row shapes, what seeing a definition changes (a pure plan each store applies inside its
// own transaction), the checks a reviewer's decision must pass, and the audit events both produce.
import { WardenError } from '../errors.js';

export type PinningMode = 'trust-on-first-use' | 'require-approval' | 'off';
export type DefinitionKind = 'tool' | 'prompt';

/**
 * - `pinned`: the definition in use is the approved one;
 * - `quarantined`: the server now presents a definition different from the pinned one (or a flagged one
 *   on a server that quarantines flagged tools): hidden and refused until a person approves it;
 * - `pending`: first seen on a `require-approval` server, never approved yet: hidden and refused;
 * - `rejected`: a person rejected the current definition: hidden and refused until it changes again.
 */
export type PinStatus = 'pinned' | 'quarantined' | 'pending' | 'rejected';

export interface PinKey {
  server: string;
  kind: DefinitionKind;
  /** The name as the downstream spells it. */
  name: string;
}

export interface PinRow extends PinKey {
  /** The name as agents see it (with the server's prefix). */
  exposed: string;
  status: PinStatus;
  /** The approved definition, when one has been approved or trusted on first use. */
  pinnedHash?: string;
  pinnedDefinition?: unknown;
  /** What the server presented last. */
  currentHash: string;
  currentDefinition: unknown;
  /** Why the current definition's description was flagged for reviewers (instructions aimed at the model). */
  flags: readonly string[];
  firstSeenAt: number;
  updatedAt: number;
  decidedAt?: number;
  decidedBy?: string;
}

/** One definition as a gateway saw it in a server's list. */
export interface Observation extends PinKey {
  exposed: string;
  hash: string;
  /** The pinned parts (src/integrity/hash.ts `pinnedParts`), as the downstream sent them. */
  definition: unknown;
  flags: readonly string[];
}

/** Keys, names, statuses and hashes of a row, without the definitions: what a gateway caches. */
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

/** An audit event about a pin (the audit's AuditEvent shape, built where both stores can reach it). */
export interface PinEvent {
  type: 'tool.pin' | 'tool.quarantine' | 'tool.change' | 'tool.approve' | 'tool.reject';
  server: string;
  target: string;
  data: Record<string, unknown>;
}

export interface PinFilter {
  status?: PinStatus;
  server?: string;
  limit?: number;
  offset?: number;
}

/**
 * Definition pins every gateway on the store shares (state.db on one machine, PostgreSQL across
 * replicas). Every change runs in one transaction that re-reads the rows first, serialised across every
 * process on the store, so two gateways seeing the same change record it once, and a reviewer's decision
 * applies to the definition they looked at (`expectedHash`) or not at all.
 */
export interface SharedPins {
  listPins(filter?: PinFilter): Promise<PinRow[]>;
  /** Rows a reviewer means by `ref`: an exposed name (`notes__read_note`) or `server/name`. */
  findPins(ref: string): Promise<PinRow[]>;
  pinStatuses(): Promise<PinState[]>;
  getPin(key: PinKey): Promise<PinRow | undefined>;
  /** Records what a gateway saw; the audit events it caused (none when nothing was new). */
  observePins(
    observations: readonly Observation[],
    pinningOf: (server: string) => ServerPinning,
    now: number,
  ): Promise<PinEvent[]>;
  /** Pins the current definition; throws ERR_PIN_NOT_FOUND, ERR_PIN_CHANGED or ERR_PIN_NOTHING_TO_APPROVE. */
  approvePin(key: PinKey, by: string, now: number, expectedHash?: string): Promise<PinRow>;
  /** Rejects the current definition; throws ERR_PIN_NOT_FOUND, ERR_PIN_CHANGED or ERR_PIN_NOTHING_TO_REJECT. */
  rejectPin(key: PinKey, by: string, now: number, expectedHash?: string): Promise<PinRow>;
}

export const MAX_PIN_LIST = 10_000;

/** A row as both stores return it (times are numbers in SQLite, bigint strings on PostgreSQL). */
export interface RawPin {
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
  first_seen_at: number | string;
  updated_at: number | string;
  decided_at: number | string | null;
  decided_by: string | null;
}

export function pinFromRaw(raw: RawPin): PinRow {
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
    firstSeenAt: Number(raw.first_seen_at),
    updatedAt: Number(raw.updated_at),
    ...(raw.decided_at !== null && { decidedAt: Number(raw.decided_at) }),
    ...(raw.decided_by !== null && { decidedBy: raw.decided_by }),
  };
}

export function pinStateOf(
  raw: Pick<RawPin, 'server' | 'kind' | 'name' | 'exposed' | 'status' | 'pinned_hash' | 'current_hash'>,
): PinState {
  return {
    server: raw.server,
    kind: raw.kind,
    name: raw.name,
    exposed: raw.exposed,
    status: raw.status,
    pinnedHash: raw.pinned_hash ?? undefined,
    currentHash: raw.current_hash,
  };
}

/** What one observation writes: a new row, a changed row, only its exposed name, or nothing. */
export type PinWrite =
  | {
      kind: 'insert';
      status: PinStatus;
      pinnedHash: string | null;
      pinnedDefinition: string | null;
      hash: string;
      definition: string;
      flags: string;
    }
  | { kind: 'update'; status: PinStatus; hash: string; definition: string; flags: string }
  | { kind: 'exposed' };

/**
 * What seeing a definition changes, given its row as stored now (pure). Rules:
 * - first sight: `trust-on-first-use` pins it (or quarantines it when flagged and the server says
 *   so); `require-approval` leaves it pending; servers with `off` are never recorded;
 * - the same hash as last seen: nothing (a new exposed name is updated quietly);
 * - a different hash: quarantined (pending stays pending); a rejected definition that returns to the
 *   pinned one is pinned again, but a quarantine is only ever lifted by a person.
 */
export function planObservation(
  row: PinRow | undefined,
  seen: Observation,
  pinning: ServerPinning,
): { write?: PinWrite; events: PinEvent[] } {
  if (pinning.mode === 'off') return { events: [] };
  const definition = JSON.stringify(seen.definition);
  const flags = JSON.stringify(seen.flags);
  if (!row) {
    const flaggedOut = pinning.quarantineFlagged && seen.flags.length > 0;
    const status: PinStatus = pinning.mode === 'require-approval' ? 'pending' : flaggedOut ? 'quarantined' : 'pinned';
    const reason =
      status === 'pinned'
        ? 'first seen: trusted on first use'
        : status === 'pending'
          ? 'first seen: waits for approval (require-approval)'
          : 'first seen with flagged text (quarantineFlagged)';
    return {
      write: {
        kind: 'insert',
        status,
        pinnedHash: status === 'pinned' ? seen.hash : null,
        pinnedDefinition: status === 'pinned' ? definition : null,
        hash: seen.hash,
        definition,
        flags,
      },
      events: [
        pinEvent(status === 'pinned' ? 'tool.pin' : 'tool.quarantine', seen, { status, previousHash: null, reason }),
      ],
    };
  }
  // A quarantine is lifted by a person only: seeing the approved definition again changes nothing.
  if (row.status === 'quarantined' && row.pinnedHash === seen.hash) return { events: [] };
  if (row.currentHash === seen.hash)
    return row.exposed === seen.exposed ? { events: [] } : { write: { kind: 'exposed' }, events: [] };
  let status: PinStatus;
  if (row.status === 'pending') status = 'pending';
  else if (seen.hash === row.pinnedHash) status = 'pinned';
  else status = 'quarantined';
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
  return { write: { kind: 'update', status, hash: seen.hash, definition, flags }, events };
}

/**
 * Whether a reviewer's decision may apply to this row (read inside the deciding transaction); throws the
 * WardenError saying why not. The CLI makes the same checks before it records the decision.
 */
export function checkPinDecision(
  key: PinKey,
  row: PinRow | undefined,
  verb: 'approve' | 'reject',
  expectedHash: string | undefined,
): PinRow {
  if (!row)
    throw new WardenError(
      'ERR_PIN_NOT_FOUND',
      `no ${key.kind} ${key.server}/${key.name} has been seen by a gateway on this store`,
    );
  if (expectedHash !== undefined && row.currentHash !== expectedHash) {
    throw new WardenError(
      'ERR_PIN_CHANGED',
      `${describeKey(row)} changed again: its definition is now ${row.currentHash}, not ${expectedHash}; review it again (mcp-warden tools diff ${row.exposed})`,
    );
  }
  if (verb === 'approve' && row.status === 'pinned' && row.pinnedHash === row.currentHash) {
    throw new WardenError(
      'ERR_PIN_NOTHING_TO_APPROVE',
      `${describeKey(row)} is already pinned at ${row.currentHash}; nothing to approve`,
    );
  }
  if (verb === 'reject' && row.status === 'rejected')
    throw new WardenError('ERR_PIN_NOTHING_TO_REJECT', `${describeKey(row)} is already rejected at ${row.currentHash}`);
  return row;
}

/** The audit event for a pin row change: data holds `{ kind, name, exposed, previousHash, hash, flags }` and more. */
export function pinEvent(
  type: PinEvent['type'],
  seen: Omit<Observation, 'definition'>,
  extra: Record<string, unknown>,
): PinEvent {
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

/** The ORDER BY of every list, and the WHERE of a reviewer's reference, in both stores' SQL. */
export const PIN_ORDER = 'ORDER BY server, kind DESC, name';
