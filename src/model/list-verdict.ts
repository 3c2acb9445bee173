/**
 * How the authorize step decided one entry of a list request (tools/list, prompts/list, resources/list,
 * resources/templates/list). The pipeline writes them, the audit records them (src/audit/list-record.ts)
 * and policy replay reads them back.
 */
export const LIST_VERDICT = {
  /** Denied by the policy: not shown. */
  hidden: 0,
  /** Allowed: shown to the agent. */
  shown: 1,
  /** Allowed by the policy, but not shown: its definition is not the pinned one (pins are not policy). */
  held: 2,
} as const;

export type ListVerdict = (typeof LIST_VERDICT)[keyof typeof LIST_VERDICT];

/** One list request as decided: each entry the authorize step saw, in order, and its verdict. */
export interface ListDecisions {
  entries: readonly { readonly server: string; readonly target: string }[];
  /** One `ListVerdict` per entry. */
  verdicts: Uint8Array;
  shown: number;
  hidden: number;
  /** The credential had expired: nothing was decided and nothing shown. */
  refused: boolean;
}
