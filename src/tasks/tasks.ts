import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ActorRef, Principal, TaskRef } from '../model/principal.js';
import type { Logger } from 'pino';
import type { SharedTasks } from '../state/shared.js';
import type { AgentRevocation, EndReason, TaskRow, TaskStore } from './store.js';
import { sqliteRevocations, sqliteTaskRows, type RevocationSource } from './sqlite-source.js';
import { withinToken } from './session.js';

export type { RevocationSource } from './sqlite-source.js';

const MAX_KNOWN_TOKEN_TASKS = 10_000;

/**
 * What every gateway process sharing the data folder must agree on: which tasks exist, which are
 * revoked, which agents are revoked. Reads come from an in-memory snapshot that is refreshed whenever
 * the database changed (`PRAGMA data_version`, a few microseconds), so a revocation made by the CLI or
 * another gateway takes effect on the next call here.
 */
export class TaskRegistry {
  readonly gatewayId = `${hostname()}:${process.pid}`;
  private version = Number.NaN;
  private signature = '';
  private revokedTasks = new Set<string>();
  private revokedTokens = new Set<string>();
  private agentRevocations = new Map<string, AgentRevocation[]>();
  private readonly knownTokenTasks = new Set<string>();
  private readonly listeners = new Set<() => void>();
  private poller: NodeJS.Timeout | undefined;
  private failing = false;
  private readonly recording = new Set<string>();
  private source: RevocationSource;
  private sourceName: string;
  private rows: SharedTasks;

  constructor(
    private readonly store: TaskStore,
    private readonly logger: Logger,
  ) {
    this.source = sqliteRevocations(store);
    this.sourceName = store.file;
    this.rows = sqliteTaskRows(store);
  }

  /**
   * Reads and writes task rows in the shared store instead of `state.db` (store.kind postgres): a task
   * begun on any replica is found, and seen ended, by the next call on every replica.
   */
  useTasks(rows: SharedTasks): void {
    this.rows = rows;
  }

  /** Reads revocations from the shared store's cache instead of `state.db` (store.kind postgres). */
  useRevocations(source: RevocationSource, name: string): void {
    this.source = source;
    this.sourceName = name;
    this.version = Number.NaN;
  }

  /**
   * Refreshes the snapshot if another process committed since the last look, and tells listeners.
   * Fails closed: while the database cannot be read, every principal reads as revoked.
   */
  sync(now: number): void {
    let changed = false;
    try {
      const version = this.source.version();
      if (version !== this.version) {
        const snapshot = this.source.snapshot(now);
        const revokedTasks = snapshot.taskIds;
        const revokedTokens = snapshot.tokenIds;
        const revocations = snapshot.agents;
        // Other processes' task inserts change the file too; only a new revocation changes what anyone may do.
        const signature = JSON.stringify([
          [...revokedTasks].sort(),
          [...revokedTokens].sort(),
          revocations.map((r) => [r.subject, r.issuer, r.revokedAt]).sort(),
        ]);
        changed = !Number.isNaN(this.version) && signature !== this.signature;
        this.signature = signature;
        this.revokedTasks = revokedTasks;
        this.revokedTokens = revokedTokens;
        const byAgent = new Map<string, AgentRevocation[]>();
        for (const revocation of revocations)
          byAgent.set(revocation.subject, [...(byAgent.get(revocation.subject) ?? []), revocation]);
        this.agentRevocations = byAgent;
        this.version = version;
      }
      if (this.failing) {
        this.failing = false;
        changed = true;
      }
    } catch (error) {
      if (!this.failing)
        this.logger.error(
          { err: (error as Error).message, store: this.sourceName },
          'revocations unreadable; refusing every call until they are back',
        );
      changed = !this.failing;
      this.failing = true;
    }
    if (changed) setImmediate(() => this.emit());
  }

  /**
   * Why this principal may do nothing at all, if it may not: the agent, its token or the task its token
   * names is revoked, or so is any actor of its delegation chain (`act`): a revoked agent's tokens
   * issued up to the revocation, a revoked token id or a revoked task anywhere in the chain.
   */
  revocationOf(principal: Principal): string | undefined {
    if (this.failing) return 'task database unavailable (fail closed)';
    const own = this.agentRevoked(principal.subject, principal.issuer, principal.issuedAt);
    if (own) return own;
    if (principal.tokenId !== undefined && this.revokedTokens.has(principal.tokenId))
      return `token ${principal.tokenId} revoked`;
    const task = principal.task;
    if (task && task.source !== 'session' && this.revokedTasks.has(task.id)) return `task ${task.id} revoked`;
    const actors: readonly ActorRef[] = principal.actors ?? principal.delegation.map((subject) => ({ subject }));
    for (const actor of actors) {
      // An actor's token issued up to the revocation, or a chain that does not say when: refused.
      const agent = this.agentRevoked(actor.subject, principal.issuer, actor.issuedAt);
      if (agent) return `delegated by ${agent}`;
      if (actor.tokenId !== undefined && this.revokedTokens.has(actor.tokenId))
        return `delegated by token ${actor.tokenId}, revoked`;
      if (actor.taskId !== undefined && this.revokedTasks.has(actor.taskId))
        return `delegated within task ${actor.taskId}, revoked`;
    }
    return undefined;
  }

  private agentRevoked(subject: string, issuer: string, issuedAt: number | undefined): string | undefined {
    for (const revocation of this.agentRevocations.get(subject) ?? []) {
      if (revocation.issuer !== '*' && revocation.issuer !== issuer) continue;
      if (issuedAt === undefined || issuedAt <= revocation.revokedAt) {
        return `agent ${subject} revoked at ${new Date(revocation.revokedAt).toISOString()}${revocation.reason ? ` (${revocation.reason})` : ''}`;
      }
    }
    return undefined;
  }

  isTaskRevoked(id: string): boolean {
    return this.revokedTasks.has(id);
  }

  /**
   * Stores a token's task the first time this process sees it, so `task list` and revocation know it. Not
   * awaited by the call (the token already carries the task); on `state.db` the row is written before this
   * returns, and a failure is retried on the next call.
   */
  noteTokenTask(principal: Principal, now: number): void {
    const task = principal.task;
    if (!task || task.source === 'session') return;
    const key = `${task.id}\u0000${principal.issuer}\u0000${principal.subject}`;
    if (this.knownTokenTasks.has(key) || this.recording.has(key)) return;
    // Revoked by id before anyone saw it: stored as revoked, so `task list` does not show it running.
    const revoked = this.revokedTasks.has(task.id);
    const row: TaskRow = {
      id: task.id,
      issuer: principal.issuer,
      subject: principal.subject,
      source: 'token',
      gateway: this.gatewayId,
      createdAt: now,
      ...(task.purpose !== undefined && { purpose: task.purpose }),
      ...(task.grants !== undefined && { grants: task.grants }),
      ...(principal.expiresAt !== undefined && { expiresAt: principal.expiresAt }),
      ...(revoked && { endedAt: now, endReason: 'revoked' as const }),
    };
    this.recording.add(key);
    this.rows
      .insertTask(row)
      .then(async (added) => {
        // Stored earlier by another process, open: ended here as the revocation says.
        if (revoked && !added) await this.rows.endTask(row, now, 'revoked');
        if (this.knownTokenTasks.size >= MAX_KNOWN_TOKEN_TASKS) this.knownTokenTasks.clear();
        this.knownTokenTasks.add(key);
      })
      .catch((error: unknown) =>
        this.logger.warn(
          { err: (error as Error).message, task: task.id },
          'could not record the token task; it will be retried on the next call',
        ),
      )
      .finally(() => this.recording.delete(key));
  }

  /**
   * The task a 2026 agent names in `_meta` (a task handle), re-authorized against the principal presenting
   * it now: a task declared in-band under the same handle key (issuer, subject and tenant), not ended, not
   * revoked, not expired, by a principal that is not itself revoked. A handle is a name, never a
   * capability: every failure reads the same to the agent; `reason` is for the record.
   */
  async resolveHandle(
    id: string,
    principal: Principal,
    handleKey: string,
    now: number,
  ): Promise<{ ok: true; task: TaskRef } | { ok: false; reason: string }> {
    this.sync(now);
    const revoked = this.revocationOf(principal);
    if (revoked !== undefined) return { ok: false, reason: `presenting principal: ${revoked}` };
    let rows: TaskRow[];
    try {
      // Read from the store on every presentation: a task begun or ended on another replica is seen at once.
      rows = await this.rows.tasksById(id);
    } catch (error) {
      this.logger.error({ err: (error as Error).message }, 'task database unreadable while resolving a task handle');
      return { ok: false, reason: 'task database unavailable (fail closed)' };
    }
    const row = rows.find((r) => r.source === 'session' && r.session === handleKey);
    if (!row) {
      const other = rows.find((r) => r.source === 'session');
      return {
        ok: false,
        reason: other
          ? `task ${id} belongs to ${other.subject} (${other.issuer}), not this principal`
          : `no task ${id}`,
      };
    }
    if (row.issuer !== principal.issuer || row.subject !== principal.subject)
      return { ok: false, reason: `task ${id} belongs to another principal` };
    // The snapshot may have been re-read while the lookup ran: what it says now decides.
    const since = this.revocationOf(principal);
    if (since !== undefined) return { ok: false, reason: `presenting principal: ${since}` };
    if (this.revokedTasks.has(id)) return { ok: false, reason: `task ${id} revoked` };
    if (row.endedAt !== undefined) return { ok: false, reason: `task ${id} ended (${row.endReason ?? 'ended'})` };
    if (row.expiresAt !== undefined && row.expiresAt <= now) return { ok: false, reason: `task ${id} expired` };
    const task: TaskRef = {
      id: row.id,
      source: 'session',
      ...(row.purpose !== undefined && { purpose: row.purpose }),
      ...(row.grants !== undefined && { grants: row.grants }),
      ...(row.expiresAt !== undefined && { expiresAt: row.expiresAt }),
    };
    // Within the presenting token's own task grants: a narrower token never inherits a wider task.
    return { ok: true, task: withinToken(task, principal.task) };
  }

  /** Stores a task declared in-band. Rejects (a WardenError from the store) if it cannot be written. */
  async begin(input: Omit<TaskRow, 'id' | 'gateway' | 'source'>): Promise<TaskRow> {
    const row: TaskRow = {
      ...input,
      id: `task_${randomBytes(12).toString('base64url')}`,
      source: 'session',
      gateway: this.gatewayId,
    };
    await this.rows.insertTask(row);
    return row;
  }

  /** Records a task's end. Whether it was written (a failure is logged): every replica sees it ended. */
  async end(task: Pick<TaskRow, 'id' | 'issuer' | 'subject'>, at: number, reason: EndReason): Promise<boolean> {
    try {
      await this.rows.endTask(task, at, reason);
      return true;
    } catch (error) {
      this.logger.warn({ err: (error as Error).message, task: task.id }, 'could not record the end of a task');
      return false;
    }
  }

  /** Polls for changes made elsewhere so sessions can be told (list_changed) without waiting for a call. */
  startPolling(intervalMs: number, now: () => number): void {
    this.poller = setInterval(() => this.sync(now()), intervalMs);
    this.poller.unref();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.poller) clearInterval(this.poller);
    this.store.close();
  }

  private emit(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error({ err: (error as Error).message }, 'task change listener failed');
      }
    }
  }
}
