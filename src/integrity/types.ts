/**
 * The shared shapes of tool integrity (definition pins) and human approval, as stored in the state
 * store (`<dataDir>/state.db`, or PostgreSQL with `store.kind: postgres`; tables `definition_pins` and
 * `approvals`). The gateway, the CLI (`tools …`, `approvals …`) and the reviewer console all read and
 * change them through the store's pins (src/state/pin-rows.ts) and approvals (src/state/approval-rows.ts).
 */

export type { DefinitionKind, PinRow, PinStatus, PinningMode } from '../state/pin-rows.js';
export type { ApprovalBinding, ApprovalChannel, ApprovalRow, ApprovalStatus } from '../state/approval-rows.js';
