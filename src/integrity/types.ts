/**
 * The shared shapes of tool integrity (definition pins) and human approval, as stored in
 * `<dataDir>/state.db` (tables `definition_pins` and `approvals`, see src/state/db.ts). The gateway,
 * the CLI (`tools …`, `approvals …`) and the reviewer console all read and change them through
 * `PinStore` (src/integrity/pins.ts) and `ApprovalStore` (src/integrity/approvals.ts).
 */

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

export interface PinRow {
  server: string;
  kind: DefinitionKind;
  /** The name as the downstream spells it. */
  name: string;
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

export type { ApprovalBinding, ApprovalChannel, ApprovalRow, ApprovalStatus } from '../state/approval-rows.js';
