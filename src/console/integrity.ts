import { ApprovalStore, approvalEvent, effectiveStatus, sqliteApprovals } from '../integrity/approvals.js';
import { definitionDiff } from '../integrity/diff.js';
import { PinStore, pinEvent, sqlitePins, type SharedPins } from '../integrity/pins.js';
import type { ApprovalRow, ApprovalStatus, DefinitionKind, PinRow, PinStatus } from '../integrity/types.js';
import { WardenError } from '../errors.js';
import type { AuditEvent } from '../pipeline/stages.js';
import type { SharedApprovals } from '../state/shared.js';

const PIN_STATUSES: readonly string[] = ['pinned', 'quarantined', 'pending', 'rejected'];
const APPROVAL_STATUSES: readonly string[] = ['pending', 'approved', 'denied', 'used', 'expired'];

/** What the console needs of the pin and approval stores (src/integrity/pins.ts, approvals.ts). */
export interface IntegrityStores {
  listPins(status: string | undefined, limit: number): Promise<unknown[]>;
  listApprovals(status: string | undefined, limit: number, now: number): Promise<unknown[]>;
  approvalsForCall(callId: string, now: number): Promise<unknown[]>;
  /**
   * Plans a decision without changing anything: the audit event that will record it, and `apply` to make
   * it. Throws a WardenError when the decision cannot be made now (not pending, expired, changed); `apply`
   * re-checks atomically and throws the same way if something changed in between.
   */
  decideApproval(id: string, decision: 'approve' | 'deny', by: string, now: number, reason?: string): Promise<Decision>;
  decideTool(
    key: { server: string; kind: DefinitionKind; name: string },
    decision: 'approve' | 'reject',
    by: string,
    now: number,
    expectedHash: string,
  ): Promise<Decision>;
  close(): void;
}

export interface Decision {
  event: AuditEvent;
  apply(): Promise<unknown>;
}

/**
 * Where the console finds approvals: state.db, or the shared store (PostgreSQL), where every replica
 * requests and spends them, so a decision made in any replica's console is the one every replica sees.
 */
export interface ConsoleApprovals {
  approvals: SharedApprovals;
  /** The approvals a call asked for (its audit record id), oldest first. */
  forCall(callId: string): Promise<ApprovalRow[]>;
  close(): void;
}

/** A pin as the Tools page shows it: with the field-level diff between the approved and the current definition. */
function withDiff(row: PinRow): unknown {
  return {
    ...row,
    diff: row.pinnedDefinition === undefined ? [] : definitionDiff(row.pinnedDefinition, row.currentDefinition),
  };
}

function shown(row: ApprovalRow, now: number): unknown {
  return { ...row, status: effectiveStatus(row, now) };
}

/** The approvals on `<dataDir>/state.db`. */
export function sqliteConsoleApprovals(file: string, readonly: boolean): ConsoleApprovals {
  const store = ApprovalStore.open(file, { readonly });
  return {
    approvals: sqliteApprovals(store),
    forCall: (callId) => Promise.resolve(store.forCall(callId)),
    close: () => store.close(),
  };
}

/** Where the console finds pins: state.db, or the shared store (PostgreSQL) every replica records them in. */
export interface ConsolePins {
  pins: SharedPins;
  close(): void;
}

/** The pins on `<dataDir>/state.db`. */
export function sqliteConsolePins(file: string, readonly: boolean): ConsolePins {
  const store = PinStore.open(file, { readonly });
  return { pins: sqlitePins(store), close: () => store.close() };
}

/**
 * The Tools and Approvals pages: tool pins and approvals as the gateway keeps them (state.db, or the
 * shared store). Closing closes both.
 */
export function openIntegrity(pinStore: ConsolePins, approvalStore: ConsoleApprovals): IntegrityStores {
  const pins = pinStore.pins;
  const approvals = approvalStore.approvals;
  const list = (status: ApprovalStatus | undefined, limit: number) =>
    approvals.listApprovals({ ...(status !== undefined && { status }), limit });
  return {
    listPins(status, limit) {
      if (status !== undefined && !PIN_STATUSES.includes(status)) return Promise.resolve([]);
      return pins
        .listPins({ ...(status !== undefined && { status: status as PinStatus }), limit })
        .then((rows) => rows.map(withDiff));
    },
    async listApprovals(status, limit, now) {
      if (status !== undefined && !APPROVAL_STATUSES.includes(status)) return [];
      // A pending approval past its expiry reads as expired (the gateway writes that lazily).
      const stored =
        status === 'expired'
          ? (await Promise.all([list('expired', limit), list('pending', limit), list('approved', limit)])).flat()
          : await list(status as ApprovalStatus | undefined, limit);
      return stored
        .filter((row) => status === undefined || effectiveStatus(row, now) === status)
        .sort((a, b) => b.createdAt - a.createdAt)
        .slice(0, limit)
        .map((row) => shown(row, now));
    },
    async approvalsForCall(callId, now) {
      return (await approvalStore.forCall(callId)).map((row) => shown(row, now));
    },
    async decideApproval(id, decision, by, now, reason) {
      const row = await approvals.getApproval(id);
      if (!row) throw new WardenError('ERR_APPROVAL_NOT_FOUND', `no approval with id ${id}`);
      const status = effectiveStatus(row, now);
      if (status !== 'pending')
        throw new WardenError(
          'ERR_APPROVAL_CLOSED',
          `cannot ${decision} approval ${id}: it is ${status}${row.decidedBy ? ` (decided by ${row.decidedBy})` : ''}`,
        );
      // The row as the decision will leave it: that is what the event records.
      const decided: ApprovalRow = {
        ...row,
        status: decision === 'approve' ? 'approved' : 'denied',
        decidedAt: now,
        decidedBy: by,
        ...(decision === 'deny' && reason !== undefined && { reason }),
      };
      return {
        event: approvalEvent(decision === 'approve' ? 'approval.grant' : 'approval.deny', decided, {
          by,
          via: 'console',
        }),
        apply: () =>
          decision === 'approve' ? approvals.approveApproval(id, by, now) : approvals.denyApproval(id, by, now, reason),
      };
    },
    decideTool(key, decision, by, now, expectedHash) {
      return pins.getPin(key).then((row) => {
        if (!row)
          throw new WardenError(
            'ERR_PIN_NOT_FOUND',
            `no ${key.kind} ${key.server}/${key.name} has been seen by a gateway on this store`,
          );
        if (row.currentHash !== expectedHash)
          throw new WardenError(
            'ERR_PIN_CHANGED',
            `${key.kind} ${key.server}/${key.name} changed again: its definition is now ${row.currentHash}, not ${expectedHash}; review it again`,
          );
        if (decision === 'approve' && row.status === 'pinned' && row.pinnedHash === row.currentHash)
          throw new WardenError(
            'ERR_PIN_NOTHING_TO_APPROVE',
            `${key.kind} ${key.server}/${key.name} is already pinned at ${row.currentHash}; nothing to approve`,
          );
        if (decision === 'reject' && row.status === 'rejected')
          throw new WardenError(
            'ERR_PIN_NOTHING_TO_REJECT',
            `${key.kind} ${key.server}/${key.name} is already rejected at ${row.currentHash}`,
          );
        const event = pinEvent(
          decision === 'approve' ? 'tool.approve' : 'tool.reject',
          {
            server: row.server,
            kind: row.kind,
            name: row.name,
            exposed: row.exposed,
            hash: row.currentHash,
            flags: row.flags,
          },
          {
            previousHash: row.pinnedHash,
            by,
            via: 'console',
          },
        );
        return {
          event,
          apply: () =>
            decision === 'approve'
              ? pins.approvePin(key, by, now, expectedHash)
              : pins.rejectPin(key, by, now, expectedHash),
        };
      });
    },
    close() {
      approvalStore.close();
      pinStore.close();
    },
  };
}
