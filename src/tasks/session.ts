// Over 300 lines: one session's task state and the warden__* tools that change it.
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Aggregate, ListKind } from '../model/catalog.js';
import { systemClock, type Clock } from '../model/clock.js';
import type { Principal, TaskRef } from '../model/principal.js';
import type { Logger } from 'pino';
import type { ListMethod } from '../pipeline/context.js';
import { deny, ok, type Outcome } from '../pipeline/denial.js';
import type { AuditEvent, Authorizer } from '../pipeline/stages.js';
import { compileGlob, globCovers, globMatch, isLiteral } from '../model/glob.js';
import { BEGIN_TASK, TASK_SERVER, isTaskTool } from '../model/task-names.js';
import type { EndReason, TaskRow } from './store.js';
import type { TaskRegistry } from './tasks.js';
import { BeginTaskArgsSchema, EndTaskArgsSchema, TASK_TOOLS, taskResult } from './tools.js';

/** Task lifetimes, as the policy's `tasks` section sets them. */
export interface TaskSettings {
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
}

/** What a session's tasks need from the gateway-wide governance. */
export interface TaskGovernance {
  readonly registry: TaskRegistry;
  readonly authorizer: Authorizer;
  readonly logger: Logger;
  taskSettings(): TaskSettings;
  record(event: AuditEvent): void;
  /** The clock tasks expire on (default: the system clock). */
  readonly clock?: Clock;
}

interface ActiveTask {
  row: TaskRow;
  ref: TaskRef;
  cancelTimer: () => void;
}

const LIST_METHODS: readonly ListMethod[] = [
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
];
const NOT_AVAILABLE = 'not available to this agent (no such tool, or outside its policy)';
/** How many grantable tools warden__begin_task's description names at most. */
const MAX_NAMED_TOOLS = 50;
/** Principals (tasks, policy versions) remembered per view by `visible`; cleared when full. */
const VISIBLE_KEYS_PER_VIEW = 16;

/**
 * One session's task state: the task declared in-band, its expiry, the effective principal the pipeline
 * sees (the session's task in place of the token's, revocations applied), and what the agent last saw in
 * each list so it is told (list_changed) when that changes.
 */
export class SessionTasks {
  private task: ActiveTask | undefined;
  private raw: Principal | undefined;
  private memo:
    { raw: Principal; task: TaskRef | undefined; revoked: string | undefined; result: Principal } | undefined;
  private readonly seen = new Map<ListMethod, string>();
  private readonly visibleMemo = new WeakMap<Aggregate, Map<string, string[]>>();
  private closed = false;
  private readonly clock: Clock;

  /**
   * @param handleKey for the 2026 pool: tasks begun here are task handles bound to this key (issuer,
   *   subject, tenant) that the agent presents per request, never the session's own task.
   */
  constructor(
    private readonly gov: TaskGovernance,
    private readonly sessionId: () => string,
    private readonly onChange: () => void,
    private readonly handleKey?: string,
  ) {
    this.clock = gov.clock ?? systemClock();
  }

  /** The time on the clock tasks expire on: what the session passes as `now`. */
  now(): number {
    return this.clock.now();
  }

  /** The principal the pipeline decides for: revocations refreshed, the token's task recorded, the session's task applied. */
  effective(principal: Principal, now: number): Principal {
    this.raw = principal;
    this.gov.registry.sync(now);
    this.gov.registry.noteTokenTask(principal, now);
    this.check(now);
    return this.compose(principal);
  }

  /**
   * The meta-tools, as list entries (they are filtered like every other tool). With the view, the
   * description of warden__begin_task names the tools a task could grant this principal (its policy's
   * ceiling inside a task, within its token's task grants): not a secret from it. Nothing else is named.
   */
  listEntries(view?: Aggregate, now: number = this.clock.now()): { server: string; target: string; item: Tool }[] {
    return TASK_TOOLS.map((tool) => ({
      server: TASK_SERVER,
      target: tool.name,
      item: tool.name === BEGIN_TASK && view ? this.beginTool(tool, view, now) : tool,
    }));
  }

  private beginTool(tool: Tool, view: Aggregate, now: number): Tool {
    const raw = this.raw;
    if (!raw) return tool;
    const grants = raw.task?.grants;
    const probe: Principal = { ...raw, task: { id: 'pending', source: 'session', ...(grants && { grants }) } };
    const names = this.visible(view, 'tools/list', probe, now).filter((name) => !isTaskTool(name));
    if (names.length === 0) return tool;
    const shown = names.slice(0, MAX_NAMED_TOOLS);
    const more = names.length > shown.length ? ` and ${names.length - shown.length} more` : '';
    return { ...tool, description: `${tool.description} Tools a task could grant you: ${shown.join(', ')}${more}.` };
  }

  handles(name: string): boolean {
    return isTaskTool(name);
  }

  /**
   * Runs a meta-tool (inside the pipeline, after the call was authorized and its intent recorded). A task
   * begun or ended is written to the store before the answer: the next call on any replica sees it.
   */
  async run(
    name: string,
    args: Record<string, unknown>,
    view: Aggregate,
    now: number,
  ): Promise<Outcome<CallToolResult>> {
    if (name === BEGIN_TASK) {
      const parsed = BeginTaskArgsSchema.safeParse(args);
      if (!parsed.success) return invalid(name, parsed.error.issues);
      return ok(await this.begin(parsed.data, view, now));
    }
    const parsed = EndTaskArgsSchema.safeParse(args);
    if (!parsed.success) return invalid(name, parsed.error.issues);
    return ok(await this.end(now));
  }

  /** Remembers what a list showed, to tell the agent later when it changes. */
  listed(method: ListMethod, items: readonly unknown[]): void {
    this.seen.set(method, items.map((item) => targetOf(method, item)).join('\n'));
  }

  /** The kinds of list whose visible items differ from what the agent last saw (and remembers the new ones). */
  changedKinds(view: Aggregate, now: number): ListKind[] {
    if (!this.raw) return [];
    const principal = this.compose(this.raw);
    const changed = new Set<ListKind>();
    for (const [method, before] of this.seen) {
      const after = this.visible(view, method, principal, now).join('\n');
      if (after !== before) {
        this.seen.set(method, after);
        changed.add(method === 'tools/list' ? 'tools' : method === 'prompts/list' ? 'prompts' : 'resources');
      }
    }
    return [...changed];
  }

  /** The session is closing: its task ends with it. */
  close(now: number): void {
    this.closed = true;
    if (this.task) this.finish('session-closed', now);
  }

  private async begin(
    args: { purpose: string; tools: string[]; ttlSeconds?: number | undefined },
    view: Aggregate,
    now: number,
  ): Promise<CallToolResult> {
    const raw = this.raw!;
    if (this.task && this.handleKey === undefined) {
      return taskResult(
        {
          status: 'refused',
          reason: 'a task is already active; end it first (warden__end_task)',
          task: describe(this.task.ref),
        },
        true,
      );
    }
    const settings = this.gov.taskSettings();
    const asked = args.ttlSeconds ?? settings.defaultTtlSeconds;
    const ttlSeconds = Math.min(asked, settings.maxTtlSeconds);
    // A task never outlives the credential it was declared with.
    const expiresAt = Math.min(now + ttlSeconds * 1000, raw.expiresAt ?? Number.POSITIVE_INFINITY);
    const tokenTask = raw.task;
    // What the task could reach at most: the policy's ceiling inside a task, within the token's own task grants.
    const probe: Principal = {
      ...raw,
      task: { id: 'pending', source: 'session', expiresAt, ...(tokenTask?.grants && { grants: tokenTask.grants }) },
    };
    const available = LIST_METHODS.flatMap((method) => this.visible(view, method, probe, now)).filter(
      (name) => !isTaskTool(name),
    );
    const granted: string[] = [];
    const refused: { tool: string; reason: string }[] = [];
    for (const pattern of args.tools) {
      const regex = isLiteral(pattern) ? undefined : compileGlob(pattern);
      const matches = available.filter((name) => (regex ? regex.test(name) : name === pattern));
      if (matches.length === 0) refused.push({ tool: pattern, reason: NOT_AVAILABLE });
      else if (!regex || !tokenTask?.grants || tokenTask.grants.some((grant) => globCovers(grant, pattern)))
        granted.push(pattern);
      else granted.push(...matches); // a glob wider than the token's task: only what it reaches today
    }
    const grants = [...new Set(granted)];
    if (grants.length === 0)
      return taskResult(
        { status: 'refused', reason: 'none of the requested tools is available to this agent', granted: [], refused },
        true,
      );
    let row: TaskRow;
    try {
      row = await this.gov.registry.begin({
        issuer: raw.issuer,
        subject: raw.subject,
        purpose: args.purpose,
        grants,
        session: this.handleKey ?? this.sessionId(),
        createdAt: now,
        expiresAt,
        ...(tokenTask && { parent: tokenTask.id }),
      });
    } catch (error) {
      this.gov.logger.error({ err: (error as Error).message }, 'could not record a new task');
      return taskResult({ status: 'refused', reason: 'the task could not be recorded; try again' }, true);
    }
    const ref: TaskRef = { id: row.id, purpose: args.purpose, grants, expiresAt, source: 'session' };
    if (this.handleKey === undefined) {
      const cancelTimer = this.clock.at(expiresAt, () => this.check(this.clock.now()));
      this.task = { row, ref, cancelTimer };
    }
    this.gov.record({
      type: 'task.begin',
      subject: raw.subject,
      taskId: row.id,
      data: {
        purpose: args.purpose,
        grants,
        refused: refused.map((r) => r.tool),
        ttlSeconds,
        expiresAt,
        ...(tokenTask && { parent: tokenTask.id }),
      },
    });
    if (this.handleKey !== undefined)
      return taskResult({
        status: 'granted',
        task: describe(ref),
        handle: { warden: { task: row.id } },
        use: `send "_meta": {"warden": {"task": "${row.id}"}} on each request inside this task; requests without it run outside the task`,
        granted: grants,
        refused,
        ...(asked > ttlSeconds && {
          note: `ttlSeconds shortened to the policy's maximum of ${settings.maxTtlSeconds}`,
        }),
      });
    this.onChange();
    return taskResult({
      status: 'granted',
      task: describe(ref),
      granted: grants,
      refused,
      ...(asked > ttlSeconds && { note: `ttlSeconds shortened to the policy's maximum of ${settings.maxTtlSeconds}` }),
    });
  }

  private async end(now: number): Promise<CallToolResult> {
    if (this.handleKey !== undefined) return this.endHandle(now);
    if (!this.task) {
      const reason = this.raw?.task
        ? `task ${this.raw.task.id} comes from your token and ends with it`
        : 'no task is active';
      return taskResult({ status: 'refused', reason }, true);
    }
    const id = this.task.ref.id;
    this.finish('ended', now);
    this.onChange();
    return taskResult({ status: 'ended', task: id });
  }

  /** Ends the task whose handle this request presented (already re-authorized for this principal by the ingress). */
  private async endHandle(now: number): Promise<CallToolResult> {
    const raw = this.raw;
    const task = raw?.task;
    if (!raw || !task || task.source !== 'session')
      return taskResult(
        { status: 'refused', reason: 'present the task handle in _meta ("warden": {"task": "<id>"}) to end that task' },
        true,
      );
    // Not ended in the store: other replicas would still accept the handle, so the agent is told.
    if (!(await this.gov.registry.end({ id: task.id, issuer: raw.issuer, subject: raw.subject }, now, 'ended')))
      return taskResult({ status: 'refused', reason: 'the end of the task could not be recorded; try again' }, true);
    this.gov.record({ type: 'task.end', subject: raw.subject, taskId: task.id, data: { reason: 'ended' } });
    return taskResult({ status: 'ended', task: task.id });
  }

  /** Ends the session's task if it expired or was revoked elsewhere; the agent is told its lists changed. */
  private check(now: number): void {
    const task = this.task;
    if (!task || this.closed) return;
    if (this.gov.registry.isTaskRevoked(task.ref.id)) {
      this.finish('revoked', now, false);
      this.onChange();
    } else if (task.ref.expiresAt !== undefined && task.ref.expiresAt <= now) {
      this.finish('expired', now);
      this.onChange();
    }
  }

  private finish(reason: EndReason, now: number, write = true): void {
    const task = this.task!;
    task.cancelTimer();
    this.task = undefined;
    if (write) void this.gov.registry.end(task.row, now, reason);
    const type = reason === 'expired' ? 'task.expire' : reason === 'revoked' ? 'task.revoke' : 'task.end';
    this.gov.record({ type, subject: task.row.subject, taskId: task.row.id, data: { reason } });
  }

  private compose(principal: Principal): Principal {
    const revoked = this.gov.registry.revocationOf(principal);
    const task = this.task?.ref;
    const memo = this.memo;
    if (memo && memo.raw === principal && memo.task === task && memo.revoked === revoked) return memo.result;
    let result = principal;
    if (task) result = { ...result, task: withinToken(task, principal.task) };
    if (revoked !== undefined) result = { ...result, revoked };
    this.memo = { raw: principal, task, revoked, result };
    return result;
  }

  /**
   * What a list shows this principal, in the order the session lists it (the meta-tools first). Remembered
   * per view and authorizer list key (issue 21: warden__begin_task's description asks on every list), a
   * few keys per view; a key covers the policy version and the principal with its task as of `now`.
   */
  private visible(view: Aggregate, method: ListMethod, principal: Principal, now: number): string[] {
    const key = this.gov.authorizer.listKey?.(principal, now);
    let byKey = key === undefined ? undefined : this.visibleMemo.get(view);
    const remembered = key === undefined ? undefined : byKey?.get(`${method}\u0000${key}`);
    if (remembered) return remembered;
    const names = entriesOf(view, method)
      .filter(
        (entry) =>
          this.gov.authorizer.authorize({ principal, method, server: entry.server, target: entry.target }, now)
            .effect === 'allow',
      )
      .map((entry) => entry.target);
    if (key !== undefined) {
      if (!byKey) this.visibleMemo.set(view, (byKey = new Map()));
      if (byKey.size >= VISIBLE_KEYS_PER_VIEW) byKey.clear();
      byKey.set(`${method}\u0000${key}`, names);
    }
    return names;
  }
}

/**
 * The session's task, within the task of the token presented now: the intersection of both. A later,
 * narrower token of the same subject on the same session must not inherit a task declared under a wider
 * one, nor lose what both allow. Per session grant: kept when a token grant covers it; else replaced by
 * the token grants it covers (`alpha__*` ∩ `alpha__read` = `alpha__read`); two globs that only partly
 * overlap (neither covers the other) are kept, with the token's grants as a second set to match.
 */
export function withinToken(task: TaskRef, tokenTask: TaskRef | undefined): TaskRef {
  const tokenGrants = tokenTask?.grants;
  if (!tokenGrants || !task.grants) return tokenGrants && !task.grants ? { ...task, grants: tokenGrants } : task;
  const kept: string[] = [];
  let partial = false;
  for (const grant of task.grants) {
    if (tokenGrants.some((covering) => globCovers(covering, grant))) {
      kept.push(grant);
      continue;
    }
    kept.push(...tokenGrants.filter((narrower) => globCovers(grant, narrower)));
    if (tokenGrants.some((other) => !globCovers(grant, other) && mayOverlap(grant, other))) {
      kept.push(grant);
      partial = true;
    }
  }
  const grants = [...new Set(kept)];
  if (!partial && grants.length === task.grants.length && grants.every((g, i) => g === task.grants![i])) return task;
  return { ...task, grants, ...(partial && { within: tokenGrants }) };
}

/** Whether two globs can match one name: exact for a literal; two patterns are assumed to (the caller then intersects at match time). */
function mayOverlap(a: string, b: string): boolean {
  if (!a.includes('*')) return globMatch(b, a);
  if (!b.includes('*')) return globMatch(a, b);
  return true;
}

function entriesOf(view: Aggregate, method: ListMethod): { server: string; target: string }[] {
  switch (method) {
    case 'tools/list':
      return [
        ...TASK_TOOLS.map((tool) => ({ server: TASK_SERVER, target: tool.name })),
        ...[...view.tools.values()].map((r) => ({ server: r.server, target: r.item.name })),
      ];
    case 'prompts/list':
      return [...view.prompts.values()].map((r) => ({ server: r.server, target: r.item.name }));
    case 'resources/list':
      return [...view.resources.values()].map((r) => ({ server: r.server, target: r.item.uri }));
    case 'resources/templates/list':
      return view.templates.map((r) => ({ server: r.server, target: r.item.uriTemplate }));
  }
}

function targetOf(method: ListMethod, item: unknown): string {
  const value = item as { name?: string; uri?: string; uriTemplate?: string };
  const target =
    method === 'resources/list' ? value.uri : method === 'resources/templates/list' ? value.uriTemplate : value.name;
  return target ?? '';
}

function describe(ref: TaskRef): Record<string, unknown> {
  return {
    id: ref.id,
    purpose: ref.purpose,
    grants: ref.grants,
    expiresAt: ref.expiresAt === undefined ? undefined : new Date(ref.expiresAt).toISOString(),
  };
}

function invalid(name: string, issues: readonly { path: readonly PropertyKey[]; message: string }[]): Outcome<never> {
  const detail = issues.map((i) => `${i.path.map(String).join('.') || '(arguments)'}: ${i.message}`).join('; ');
  return deny({ kind: 'invalid_params', message: `Invalid arguments for ${name}: ${detail}`, reason: detail });
}
