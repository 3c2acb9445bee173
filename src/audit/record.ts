import type { Principal } from '../model/principal.js';
import type { CallContext, RelayContext } from '../pipeline/context.js';
import { denialToWire } from '../pipeline/denial.js';
import type { AuditEvent, CallRecordOutcome, Decision } from '../pipeline/stages.js';
import { digestOf, newRecordId } from '../model/canonical.js';
import type { EntryInput, StoredEntry } from './chain.js';
import { capValue, isTruncated, scrubValue, type ScrubReport } from '../model/stored-value.js';

/** How arguments, results and event details are cut down before they are stored. */
export interface RecordSettings {
  maxArgumentBytes: number;
  maxResultBytes: number;
  captureResults: boolean;
  /** Removes secret values (and their encodings) from text; supplied by the secrets stage. */
  redact: (text: string) => string;
}

/** What an outcome repeats from its intent, so outcomes can be filtered and counted on their own. */
export interface IntentRef {
  id: string;
  type: string;
  startedAt: number;
  subject: string | null;
  taskId: string | null;
  server: string | null;
  target: string | null;
  decision: string | null;
}

function isRelay(ctx: CallContext | RelayContext): ctx is RelayContext {
  return 'params' in ctx;
}

export function intentEntry(
  ctx: CallContext | RelayContext,
  decision: Decision,
  instance: string,
  now: number,
  s: RecordSettings,
  parentId?: string,
): { entry: EntryInput; ref: IntentRef } {
  const p = ctx.principal;
  const relay = isRelay(ctx);
  const args = relay ? ctx.params : ctx.arguments;
  const digest = args === undefined ? undefined : digestOf(args);
  const scrubbed: ScrubReport = { changed: false };
  const storedArgs =
    args === undefined ? undefined : capValue(scrubValue(args, s.redact, 0, scrubbed), s.maxArgumentBytes);
  const partial = [...(scrubbed.changed ? ['redacted'] : []), ...(isTruncated(storedArgs) ? ['truncated'] : [])];
  const ref: IntentRef = {
    id: newRecordId(now),
    type: ctx.method,
    startedAt: ctx.startedAt,
    subject: p?.subject ?? null,
    taskId: p?.task?.id ?? null,
    server: ctx.server === '' ? null : ctx.server,
    target: relay ? null : s.redact(ctx.target),
    decision: decision.effect,
  };
  // v2 (policy replay, issue 22): the principal's claims, the task's grants, expiry and source, how a
  // refused decision was refused, whether approval was required, and what of the arguments is not stored.
  const body = {
    v: 2,
    requestId: ctx.requestId,
    ingress: ctx.ingress,
    session: ctx.sessionId,
    jsonrpcId: relay ? undefined : ctx.jsonrpcId,
    traceId: ctx.traceId,
    ...principalFields(p, s),
    client: ctx.clientInfo && { name: s.redact(ctx.clientInfo.name), version: s.redact(ctx.clientInfo.version) },
    method: ctx.method,
    server: ref.server ?? undefined,
    target: ref.target ?? undefined,
    downstreamTarget: relay || ctx.downstreamTarget === ctx.target ? undefined : s.redact(ctx.downstreamTarget),
    toolHash: relay ? undefined : ctx.toolHash,
    parent: parentId,
    relay: relay ? relaySummary(ctx, s) : undefined,
    arguments: storedArgs,
    argumentsDigest: digest?.digest,
    argumentsBytes: digest?.bytes,
    argumentsPartial: partial.length > 0 ? partial : undefined,
    decision: {
      effect: decision.effect,
      rule: decision.rule,
      reason: s.redact(decision.reason),
      policyVersion: decision.policyVersion,
      approval: decision.approval,
      approvalRequired: decision.approvalRequired || undefined,
      refusal: decision.refusal?.kind,
    },
  };
  const entry: EntryInput = {
    ...columns(ref),
    kind: 'intent',
    ts: now,
    instance,
    outcome: null,
    body: JSON.stringify(body),
  };
  return { entry, ref };
}

/**
 * Who asked, as intents and list records store it: what policy replay needs to decide the request again
 * (subject, issuer, client, tenant, auth method, scopes, claims; the task with its grants and expiry; the
 * delegation chain). Claims and the task's purpose pass the egress stage.
 */
export function principalFields(
  p: Principal | undefined,
  s: RecordSettings,
): { principal?: object; task?: object; delegation?: readonly string[] } {
  return {
    principal: p && {
      subject: p.subject,
      issuer: p.issuer,
      clientId: p.clientId,
      tenant: p.tenant,
      authMethod: p.authMethod,
      tokenId: p.tokenId,
      scopes: p.scopes,
      claims: p.claims && scrubValue(p.claims, s.redact),
    },
    task: p?.task && {
      id: p.task.id,
      purpose: p.task.purpose === undefined ? undefined : s.redact(p.task.purpose),
      grants: p.task.grants,
      within: p.task.within,
      expiresAt: p.task.expiresAt,
      source: p.task.source,
    },
    delegation: p && p.delegation.length > 0 ? p.delegation : undefined,
  };
}

export function outcomeEntry(
  ref: IntentRef,
  outcome: CallRecordOutcome,
  instance: string,
  now: number,
  s: RecordSettings,
): EntryInput {
  let error: { code: number | null; message: string } | undefined;
  if (outcome.denial) {
    const wire = denialToWire(outcome.denial);
    error = { code: wire.code, message: s.redact(wire.message) };
  } else if (outcome.error) {
    error = { code: outcome.status === 'downstream_failed' ? -32603 : null, message: s.redact(outcome.error) };
  }
  let result: Record<string, unknown> | undefined;
  if (outcome.result !== undefined) {
    const { digest, bytes } = digestOf(outcome.result);
    result = { bytes, digest };
    if (s.captureResults) result.value = capValue(scrubValue(outcome.result, s.redact), s.maxResultBytes);
  }
  const body = {
    v: 1,
    outcome: outcome.status,
    durationMs: outcome.durationMs,
    error,
    reason: outcome.denial ? s.redact(outcome.denial.reason) : undefined,
    // A call held for a person's approval: which approval, and whether it was waiting, denied or expired.
    approval:
      outcome.denial?.kind === 'approval_required' && outcome.denial.approval
        ? { id: outcome.denial.approval.id, status: outcome.denial.approval.status }
        : undefined,
    secrets: outcome.secrets?.map((used) => ({
      name: used.name,
      ...(used.source && { source: used.source }),
      fingerprint: used.fingerprint,
    })),
    relay:
      isRelayMethod(ref.type) && outcome.result !== undefined
        ? scrubValue(relayResultSummary(ref.type, outcome.result), s.redact)
        : undefined,
    result,
  };
  return { ...columns(ref), kind: 'outcome', ts: now, instance, outcome: outcome.status, body: JSON.stringify(body) };
}

/** The outcome written at start-up for an intent whose gateway stopped before recording one. */
export function unknownOutcomeEntry(intent: StoredEntry, instance: string, now: number, reason: string): EntryInput {
  const ref: IntentRef = {
    id: intent.id,
    type: intent.type,
    startedAt: intent.startedAt,
    subject: intent.subject,
    taskId: intent.taskId,
    server: intent.server,
    target: intent.target,
    decision: intent.decision,
  };
  const body = { v: 1, outcome: 'unknown_outcome', reason, recordedBy: instance, intentInstance: intent.instance };
  return {
    ...columns(ref),
    kind: 'outcome',
    ts: now,
    instance,
    outcome: 'unknown_outcome',
    body: JSON.stringify(body),
  };
}

export function eventEntry(event: AuditEvent, instance: string, now: number, s: RecordSettings): EntryInput {
  const data = event.data === undefined ? undefined : capValue(scrubValue(event.data, s.redact), s.maxArgumentBytes);
  return {
    id: newRecordId(now),
    kind: 'event',
    ts: now,
    startedAt: now,
    instance,
    type: event.type,
    subject: event.subject ?? null,
    taskId: event.taskId ?? null,
    server: event.server ?? null,
    target: event.target === undefined ? null : s.redact(event.target),
    decision: null,
    outcome: null,
    body: JSON.stringify({ v: 1, data }),
  };
}

function columns(ref: IntentRef): Omit<EntryInput, 'kind' | 'ts' | 'instance' | 'outcome' | 'body'> {
  return {
    id: ref.id,
    startedAt: ref.startedAt,
    type: ref.type,
    subject: ref.subject,
    taskId: ref.taskId,
    server: ref.server,
    target: ref.target,
    decision: ref.decision,
  };
}

function isRelayMethod(method: string): boolean {
  return method === 'sampling/createMessage' || method === 'elicitation/create' || method === 'roots/list';
}

/** What an investigator needs at a glance: who asked the agent's model or user for what. */
function relaySummary(ctx: RelayContext, s: RecordSettings): Record<string, unknown> {
  const params = ctx.params as Record<string, unknown>;
  if (ctx.method === 'sampling/createMessage') {
    return {
      messageCount: Array.isArray(params.messages) ? params.messages.length : 0,
      modelPreferences:
        params.modelPreferences === undefined ? undefined : scrubValue(params.modelPreferences, s.redact),
      maxTokens: params.maxTokens,
      includeContext: params.includeContext,
      systemPrompt: typeof params.systemPrompt === 'string',
    };
  }
  if (ctx.method === 'elicitation/create') {
    const schema = params.requestedSchema as { properties?: Record<string, unknown> } | undefined;
    return {
      mode: params.mode ?? 'form',
      fields: schema?.properties ? Object.keys(schema.properties).map(s.redact) : undefined,
    };
  }
  return {};
}

function relayResultSummary(method: string, result: unknown): Record<string, unknown> {
  const r = (result ?? {}) as Record<string, unknown>;
  if (method === 'sampling/createMessage') return { model: r.model, stopReason: r.stopReason, role: r.role };
  if (method === 'elicitation/create') return { action: r.action };
  return { roots: Array.isArray(r.roots) ? r.roots.length : undefined };
}
