// Over 300 lines: one route table for the console JSON API, each handler short; split by resource when it grows.
import { verifyJws } from '../audit/checkpoints.js';
import type { VerifyReport } from '../audit/verify.js';
import { isWardenError } from '../errors.js';
import { KeyStore } from '../state/keys.js';
import type { AuditEvent } from '../pipeline/stages.js';
import type { TaskRow } from '../tasks/store.js';
import { PolicyImpact } from './impact.js';
import type { IntegrityStores } from './integrity.js';
import { agentTotals, eventsPage, feedPage, idsByTrace, oldestSince, parseCursor, series, totals } from './queries.js';
import type { ConsoleSession } from './sessions.js';
import type { ConsoleAudit, ConsoleTasks } from './stores.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ApiDeps {
  dataDir: string;
  audit: ConsoleAudit;
  tasks: ConsoleTasks;
  integrity: IntegrityStores | undefined;
  /**
   * PostgreSQL: tasks and revocations are the store every replica shares, so a task id is revoked even
   * when no open task has it yet (it may be open on another replica, or not yet seen).
   */
  sharedStore: boolean;
  /** Inside `serve`: appends a reviewer's decision to the audit log. Absent: the console is read-only. */
  record: ((event: AuditEvent) => Promise<{ ok: boolean }>) | undefined;
  now: () => number;
  /** `console.traceUrl`: where a call's trace id links to. */
  traceUrl?: string;
  /** Inside `serve`: each server's health and circuit breaker (already through the egress stage). */
  servers?: () => Record<string, ServerStatus>;
}

/** One server as the console shows it: what /healthz says of it (src/gateway/gateway.ts, ServerHealth). */
export interface ServerStatus {
  transport: string;
  status: string;
  breaker: { state: string; failures: number; since: number; retryAt?: number; lastError?: string };
  connections: Partial<Record<string, number>>;
  launch?: { state: string; pid?: number };
}

export interface ApiRequest {
  method: string;
  path: string[];
  query: URLSearchParams;
  body: Record<string, unknown>;
  session: ConsoleSession;
}

/** How long a computed chart is reused. */
const CHART_CACHE_MS = 5_000;
/** A full chain verification reads the whole log synchronously: at most one per this interval per process. */
export const VERIFY_INTERVAL_MS = 60_000;
const CHART_HOURS = [1, 24, 168];

const FEED_FILTERS = ['agent', 'task', 'server', 'tool', 'decision', 'outcome'] as const;

function text(query: URLSearchParams, name: string, max = 256): string | undefined {
  const value = query.get(name);
  if (value === null || value === '') return undefined;
  if (value.length > max) throw new ApiError(400, `${name}: at most ${max} characters`);
  return value;
}

function int(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new ApiError(400, `${name}: must be an integer ${min}-${max}`);
  return value;
}

function bodyText(body: Record<string, unknown>, name: string, required: boolean, max = 500): string | undefined {
  const value = body[name];
  if (value === undefined || value === null || value === '') {
    if (required) throw new ApiError(400, `${name} is required`);
    return undefined;
  }
  if (typeof value !== 'string' || value.length > max)
    throw new ApiError(400, `${name}: must be a string of at most ${max} characters`);
  return value;
}

function taskStatus(task: TaskRow, now: number): string {
  if (task.endReason) return task.endReason;
  if (task.expiresAt !== undefined && task.expiresAt <= now) return 'expired';
  return 'active';
}

function parseBody(text: string | null | undefined): unknown {
  if (text === null || text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The JSON API under /api/. Reads are paginated and indexed; actions need `record` (not read-only). */
export class ConsoleApi {
  private verified: { at: number; report: VerifyReport } | undefined;
  private readonly chartCache = new Map<number, { at: number; value: unknown }>();
  private readonly impact: PolicyImpact;

  constructor(private readonly deps: ApiDeps) {
    this.impact = new PolicyImpact(deps.dataDir);
  }

  /** Each server's health and breaker, from the gateway this console runs in; none for a standalone console. */
  private servers(): { servers: ({ id: string } & ServerStatus)[] | null; reason?: string } {
    const health = this.deps.servers?.();
    if (!health)
      return {
        servers: null,
        reason:
          'this console runs apart from the gateway (mcp-warden console): server health is shown by the console inside serve, and at /healthz',
      };
    return { servers: Object.entries(health).map(([id, server]) => ({ id, ...server })) };
  }

  get readOnly(): boolean {
    return this.deps.record === undefined;
  }

  async handle(req: ApiRequest): Promise<unknown> {
    const [first, second, third] = req.path;
    const key = `${req.method} ${first ?? ''}`;
    switch (key) {
      case 'GET calls':
        return second === undefined ? this.calls(req.query) : this.call(second);
      case 'GET search':
        return this.search(req.query);
      case 'GET events':
        return this.events(req.query);
      case 'GET tasks':
        return this.taskList(req.query);
      case 'GET agents':
        return this.agents();
      case 'GET charts':
        return this.charts(req.query);
      case 'GET integrity':
        return this.integrity(req.query.get('refresh') === '1');
      case 'GET tools':
        return this.tools(req.query);
      case 'GET servers':
        return this.servers();
      case 'GET approvals':
        return this.approvals(req.query);
      case 'POST tasks':
        if (second !== undefined && third === 'revoke') return this.revokeTask(second, req.session);
        break;
      case 'POST agents':
        if (second === 'revoke') return this.revokeAgent(req.body, req.session);
        break;
      case 'POST approvals':
        if (second !== undefined && (third === 'approve' || third === 'deny'))
          return this.decideApproval(second, third, req.body, req.session);
        break;
      case 'POST tools':
        if (second === 'approve' || second === 'reject') return this.decideTool(second, req.body, req.session);
        break;
      case 'POST policy-impact':
        // Read-only (a POST only because a policy file does not fit in a query string): allowed on a read-only console too.
        if (second === undefined) return this.impact.run(req.body);
        break;
    }
    throw new ApiError(404, 'no such API route');
  }

  private calls(query: URLSearchParams): Promise<unknown> {
    const filter = Object.fromEntries(
      FEED_FILTERS.map((name) => [name, text(query, name)]).filter(([, v]) => v !== undefined),
    );
    const since = query.get('since');
    const until = query.get('until');
    const cursor = parseCursor(query.get('before'));
    return feedPage(this.deps.audit.query, {
      ...filter,
      ...(since && { since: int(query, 'since', 0, 0, 8_640_000_000_000) }),
      ...(until && { until: int(query, 'until', 0, 0, 8_640_000_000_000) }),
      ...(cursor && { before: cursor }),
      limit: int(query, 'limit', 50, 1, 500),
    });
  }

  private async call(id: string): Promise<unknown> {
    if (!/^[0-9A-Za-z]{1,64}$/.test(id)) throw new ApiError(400, 'not a record id');
    const detail = await this.deps.audit.getRecord(id);
    if (!detail) throw new ApiError(404, `no record ${id}`);
    if ('event' in detail) return { event: { ...detail.event, body: parseBody(detail.event.body) } };
    const intentBody = parseBody(detail.intent?.body) as Record<string, unknown> | undefined;
    const outcomeBody = parseBody(detail.outcome?.body) as Record<string, unknown> | undefined;
    const base = (detail.intent ?? detail.outcome)!;
    const taskId = base.taskId;
    const task = taskId ? await this.deps.tasks.byId(taskId, 5) : [];
    const related = taskId ? await eventsPage(this.deps.audit.query, { taskId, limit: 50 }) : [];
    const approvals = (await this.deps.integrity?.approvalsForCall(id, this.deps.now())) ?? [];
    const traceUrl = traceLink(this.deps.traceUrl, intentBody?.traceId);
    return {
      id,
      intent: detail.intent && { ...detail.intent, body: intentBody },
      outcome: detail.outcome && { ...detail.outcome, body: outcomeBody },
      relays: detail.relays,
      tasks: task.map((t) => ({ ...t, status: taskStatus(t, this.deps.now()) })),
      related,
      approvals,
      ...(traceUrl !== undefined && { traceUrl }),
    };
  }

  private async search(query: URLSearchParams): Promise<unknown> {
    const q = text(query, 'q', 200)?.trim();
    if (!q) throw new ApiError(400, 'q is required');
    if (/^[0-9A-Za-z]{1,64}$/.test(q) && (await this.deps.audit.getRecord(q))) return { ids: [q], by: 'id' };
    return { ids: await idsByTrace(this.deps.audit.query, q), by: 'trace' };
  }

  private async events(query: URLSearchParams): Promise<unknown> {
    const before = query.get('before');
    const type = text(query, 'type');
    const task = text(query, 'task');
    return {
      rows: await eventsPage(this.deps.audit.query, {
        ...(type && { type }),
        ...(task && { taskId: task }),
        ...(query.get('lists') === '0' && { withoutLists: true }),
        ...(before && { before: int(query, 'before', 0, 0, Number.MAX_SAFE_INTEGER) }),
        limit: int(query, 'limit', 50, 1, 500),
      }),
    };
  }

  private async taskList(query: URLSearchParams): Promise<unknown> {
    const now = this.deps.now();
    const status = text(query, 'status') ?? 'all';
    if (!['all', 'active', 'expired', 'revoked', 'ended', 'session-closed'].includes(status))
      throw new ApiError(400, 'status: one of all, active, expired, revoked, ended, session-closed');
    const rows = await this.deps.tasks.listByStatus(status, now, int(query, 'limit', 200, 1, 1000));
    return { rows: rows.map((t) => ({ ...t, status: taskStatus(t, now) })) };
  }

  private async agents(): Promise<unknown> {
    const now = this.deps.now();
    const since = now - 7 * 86_400_000;
    const rows = await agentTotals(this.deps.audit.query, since);
    return { since, rows, revocations: await this.deps.tasks.agentRevocations(now) };
  }

  private async charts(query: URLSearchParams): Promise<unknown> {
    const now = this.deps.now();
    // Without a range, the data picks it: the shortest that holds every call of the last week, so a fresh
    // installation is not one bar at the right edge of a day.
    const hours = query.has('hours') ? int(query, 'hours', 24, 1, 168) : await this.rangeFromData(now);
    if (!CHART_HOURS.includes(hours)) throw new ApiError(400, 'hours: must be 1, 24 or 168');
    // Aggregating a busy day reads every outcome in it: several reviewers (or reloads) within a few
    // seconds share one result.
    const cached = this.chartCache.get(hours);
    if (cached && now - cached.at < CHART_CACHE_MS) return cached.value;
    const value = await this.computeCharts(hours, now);
    this.chartCache.set(hours, { at: now, value });
    return value;
  }

  private async rangeFromData(now: number): Promise<number> {
    const oldest = await oldestSince(this.deps.audit.query, now - 168 * 3_600_000);
    const span = oldest === undefined ? 0 : now - oldest;
    return CHART_HOURS.find((h) => span <= h * 3_600_000) ?? 168;
  }

  private async computeCharts(hours: number, now: number): Promise<unknown> {
    const bucketMs = hours <= 1 ? 60_000 : hours <= 24 ? 15 * 60_000 : 3_600_000;
    const since = Math.floor((now - hours * 3_600_000) / bucketMs) * bucketMs;
    const q = this.deps.audit.query;
    const [total, byAgent, byTool] = await Promise.all([
      totals(q, since, bucketMs),
      series(q, 'agent', since, bucketMs),
      series(q, 'tool', since, bucketMs),
    ]);
    return { hours, since, until: now, bucketMs, total, byAgent, byTool };
  }

  /** The data folder's signing keys (none without a key file: reported as unverifiable). */
  private localKeys(): Map<string, object> {
    try {
      return new KeyStore(this.deps.dataDir).allPublicKeys();
    } catch {
      return new Map<string, object>();
    }
  }

  private async integrity(refresh: boolean): Promise<unknown> {
    const now = this.deps.now();
    // Verification reads the whole log (on SQLite, blocking the event loop): a refresh within a minute of
    // the last one gets that one's result, with its time and when the next may run.
    const due = !this.verified || (refresh && now - this.verified.at >= VERIFY_INTERVAL_MS);
    if (due) this.verified = { at: now, report: await this.deps.audit.verify(this.localKeys()) };
    const verified = this.verified!;
    const checkpoint = await this.deps.audit.lastCheckpoint();
    let signature: { ok: boolean; reason?: string } | undefined;
    if (checkpoint) {
      // On PostgreSQL each replica signs with its own key, published in the store.
      const keys = new Map([...(await this.deps.audit.publishedKeys()), ...this.localKeys()]);
      const check = verifyJws(checkpoint.jws, keys);
      signature = check.ok ? { ok: true } : { ok: false, reason: check.reason };
    }
    return {
      verifiedAt: verified.at,
      report: verified.report,
      ...(refresh && !due && { cached: true, nextVerificationAt: verified.at + VERIFY_INTERVAL_MS }),
      checkpoint: checkpoint && { ...checkpoint, signature },
    };
  }

  private async tools(query: URLSearchParams): Promise<unknown> {
    if (!this.deps.integrity) return { available: false, rows: [] };
    const status = text(query, 'status');
    return { available: true, rows: await this.deps.integrity.listPins(status, int(query, 'limit', 200, 1, 1000)) };
  }

  private async approvals(query: URLSearchParams): Promise<unknown> {
    if (!this.deps.integrity) return { available: false, rows: [] };
    const status = text(query, 'status');
    return {
      available: true,
      rows: await this.deps.integrity.listApprovals(status, int(query, 'limit', 200, 1, 1000), this.deps.now()),
    };
  }

  // ---- actions (serve only) ----

  private recorder(): (event: AuditEvent) => Promise<{ ok: boolean }> {
    if (!this.deps.record)
      throw new ApiError(
        403,
        'this console is read-only (mcp-warden console): actions are disabled; use the console of a running gateway',
      );
    return this.deps.record;
  }

  /**
   * No audit, no action: the decision's event is written first; if it cannot be, nothing is changed (503).
   * If the change then fails (someone else decided in between, the database is busy), a
   * `console.action.failed` event says so and the reviewer gets the reason.
   */
  private async audited<T>(
    record: (event: AuditEvent) => Promise<{ ok: boolean }>,
    event: AuditEvent,
    apply: () => T | Promise<T>,
  ): Promise<T> {
    let written: { ok: boolean };
    try {
      written = await record(event);
    } catch {
      written = { ok: false };
    }
    if (!written.ok)
      throw new ApiError(
        503,
        'the audit log cannot be written, so nothing was changed (no audit, no action); try again later',
      );
    try {
      return await apply();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      await record({
        type: 'console.action.failed',
        ...(event.subject !== undefined && { subject: event.subject }),
        ...(event.taskId !== undefined && { taskId: event.taskId }),
        data: { action: event.type, reason, by: event.data?.by, via: 'console' },
      }).catch(() => undefined);
      if (isWardenError(error)) throw new ApiError(409, error.message);
      throw error;
    }
  }

  private async revokeTask(id: string, session: ConsoleSession): Promise<unknown> {
    const record = this.recorder();
    if (id.length > 200) throw new ApiError(400, 'task id too long');
    const now = this.deps.now();
    const open = (await this.deps.tasks.byId(id, 1000)).filter((t) => t.endedAt === undefined).length;
    // On the shared store the task may be open on a replica that has not recorded it yet: the id is revoked regardless.
    if (open === 0 && !this.deps.sharedStore) throw new ApiError(404, `no open task with id ${id}`);
    const count = await this.audited(
      record,
      { type: 'task.revoke', taskId: id, data: { id, by: session.subject, via: 'console', tasks: open } },
      () => this.deps.tasks.revokeTask(id, now),
    );
    return { revoked: count };
  }

  private async revokeAgent(body: Record<string, unknown>, session: ConsoleSession): Promise<unknown> {
    const record = this.recorder();
    const subject = bodyText(body, 'subject', true, 200)!;
    const issuer = bodyText(body, 'issuer', false, 500) ?? '*';
    const reason = bodyText(body, 'reason', false, 500);
    const open = await this.deps.tasks.openTaskCount(subject, issuer);
    const tasks = await this.audited(
      record,
      {
        type: 'agent.revoke',
        subject,
        data: { subject, issuer, reason, tasks: open, by: session.subject, via: 'console' },
      },
      () =>
        this.deps.tasks.revokeAgent({
          subject,
          issuer,
          revokedAt: this.deps.now(),
          reason: reason ?? `revoked by ${session.subject} in the console`,
        }),
    );
    return { tasks };
  }

  private async decideApproval(
    id: string,
    decision: 'approve' | 'deny',
    body: Record<string, unknown>,
    session: ConsoleSession,
  ): Promise<unknown> {
    const record = this.recorder();
    const integrity = this.integrityOrFail();
    const reason = bodyText(body, 'reason', false, 500);
    const plan = await this.guard(() =>
      integrity.decideApproval(id, decision, session.subject, this.deps.now(), reason),
    );
    return this.audited(record, plan.event, () => plan.apply());
  }

  private async decideTool(
    decision: 'approve' | 'reject',
    body: Record<string, unknown>,
    session: ConsoleSession,
  ): Promise<unknown> {
    const record = this.recorder();
    const integrity = this.integrityOrFail();
    const server = bodyText(body, 'server', true, 64)!;
    const kind = bodyText(body, 'kind', true, 16)!;
    if (kind !== 'tool' && kind !== 'prompt') throw new ApiError(400, 'kind must be tool or prompt');
    const name = bodyText(body, 'name', true, 200)!;
    const expectedHash = bodyText(body, 'expectedHash', true, 200)!;
    const plan = await this.guard(() =>
      integrity.decideTool({ server, kind, name }, decision, session.subject, this.deps.now(), expectedHash),
    );
    return this.audited(record, plan.event, () => plan.apply());
  }

  private integrityOrFail(): IntegrityStores {
    if (!this.deps.integrity) throw new ApiError(503, 'tool pinning and approvals are not available in this build');
    return this.deps.integrity;
  }

  /** A store's refusal (not pending, expired, the definition changed under the reviewer) is a 409 with its message. */
  private async guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (isWardenError(error)) throw new ApiError(409, error.message);
      throw error;
    }
  }
}

/** The tracing UI's page for a call's trace: only for a well-formed W3C trace id. */
function traceLink(template: string | undefined, traceId: unknown): string | undefined {
  if (template === undefined || typeof traceId !== 'string' || !/^[0-9a-f]{32}$/.test(traceId)) return undefined;
  return template.replaceAll('{traceId}', traceId);
}
