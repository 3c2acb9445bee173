import type { CallContext, ListContext, RelayContext } from './context.js';
import type { CallStatus, Decision } from './stages.js';

/** The pipeline's stages as metrics and traces name them, in their order (src/pipeline/orchestrator.ts). */
export const STAGES = [
  'authenticate',
  'authorize',
  'audit_intent',
  'approval',
  'inject',
  'forward',
  'scrub',
  'audit_outcome',
] as const;
export type StageName = (typeof STAGES)[number];

/**
 * Watches one call through the pipeline (metrics, traces). Every time is read from the pipeline's
 * clock by the orchestrator; an observation never reads a clock of its own.
 */
export interface CallObservation {
  /** `stage` ran from the previous mark (or the call's start) until `at`. */
  stage(stage: StageName, at: number): void;
  /** The forward stage begins: the W3C `traceparent` the downstream should continue, when tracing. */
  downstream(): string | undefined;
  /** The call is over (its outcome recorded, or its intent refused). */
  end(at: number, decision: Decision, status: CallStatus): void;
}

/** A list request (tools/list, …): authorized item by item in one step. */
export interface ListObservation {
  end(at: number, result: { shown: number; hidden: number; refused: boolean }): void;
}

/** A request a downstream sent towards the agent (sampling, elicitation, roots), from its intent to its outcome. */
export interface RelayObservation {
  end(at: number, status: CallStatus): void;
}

/** Hooks the orchestrator calls; without one (the default) a call pays nothing for observation. */
export interface PipelineObserver {
  begin(ctx: CallContext, at: number): CallObservation;
  list?(ctx: ListContext, at: number): ListObservation;
  /** Begins while `ctx.parent`'s observation (when there is a parent call) is still open. */
  relay?(ctx: RelayContext, at: number): RelayObservation;
}
