import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ActorRef, Principal, TaskRef } from '../model/principal.js';
import type { Logger } from 'pino';
import type { RevocationSnapshot } from '../state/shared.js';
import type { AgentRevocation, EndReason, TaskRow, TaskStore } from './store.js';
import { withinToken } from './session.js';

/**
 * Where the registry reads revocations: `state.db` by default (`PRAGMA data_version`), or a replica's
 * cache of the shared store (src/state/pg/revocation-cache.ts). Both throw while they cannot be trusted.
 */
export interface RevocationSource {
  /** Changes whenever the snapshot may have changed. */
  version(): number;
  snapshot(now: number): RevocationSnapshot;
}

function sqliteRevocations(store: TaskStore): RevocationSource {
  return {
    version: () => store.dataVersion(),
    snapshot: (now) => ({
      agents: store.revocations(),
      tokenIds: store.revokedTokenIds(),
      taskIds: store.revokedTaskIds(now),
    }),
  };
}

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
  private source: RevocationSource;
  private sourceName: string;

  constructor(
    private readonly store: TaskStore,
    private readonly logger: Logger,
  ) {
    this.source = sqliteRevocations(store);
    this.sourceName = store.file;
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

  /** Stores a token's task the first time this process sees it, so `task list` and revocation know it. */
  noteTokenTask(principal: Principal, now: number): void {
    const task = principal.task;
    if (!task || task.source === 'session') return;
    const key = `${task.id}\u0000${principal.issuer}\u0000${principal.subject}`;
    if (this.knownTokenTasks.has(key)) return;
    try {
      this.store.insert({
        id: task.id,
        issuer: principal.issuer,
        subject: principal.subject,
        source: 'token',
        gateway: this.gatewayId,
        createdAt: now,
        ...(task.purpose !== undefined && { purpose: task.purpose }),
        ...(task.grants !== undefined && { grants: task.grants }),
        ...(principal.expiresAt !== undefined && { expiresAt: principal.expiresAt }),
      });
      // Revoked by id before anyone saw it: stored as revoked, so `task list` does not show it running.
      if (this.revokedTasks.has(task.id))
        this.store.end({ id: task.id, issuer: principal.issuer, subject: principal.subject }, now, 'revoked');
      if (this.knownTokenTasks.size >= MAX_KNOWN_TOKEN_TASKS) this.knownTokenTasks.clear();
      this.knownTokenTasks.add(key);
    } catch (error) {
      this.logger.warn(
        { err: (error as Error).message, task: task.id },
        'could not record the token task; it will be retried on the next call',
      );
    }
  }

  /**
   * The task a 2026 agent names in `_meta` (a task handle), re-authorized against the principal presenting
   * it now: a task declared in-band under the same handle key (issuer, subject and tenant), not ended, not
   * revoked, not expired, by a principal that is not itself revoked. A handle is a name, never a
   * capability: every failure reads the same to the agent; `reason` is for the record.
   */
  resolveHandle(
    id: string,
    principal: Principal,
    handleKey: string,
    now: number,
  ): { ok: true; task: TaskRef } | { ok: false; reason: string } {
    this.sync(now);
    const revoked = this.revocationOf(principal);
    if (revoked !== undefined) return { ok: false, reason: `presenting principal: ${revoked}` };
    let rows: TaskRow[];
    try {
      rows = this.store.get(id);
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

  /** Stores a task declared in-band. Throws (a WardenError from the store) if it cannot be written. */
  begin(input: Omit<TaskRow, 'id' | 'gateway' | 'source'>): TaskRow {
    const row: TaskRow = {
      ...input,
      id: `task_${randomBytes(12).toString('base64url')}`,
      source: 'session',
      gateway: this.gatewayId,
    };
    this.store.insert(row);
    return row;
  }

  end(task: Pick<TaskRow, 'id' | 'issuer' | 'subject'>, at: number, reason: EndReason): void {
    try {
      this.store.end(task, at, reason);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message, task: task.id }, 'could not record the end of a task');
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
