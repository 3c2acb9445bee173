import { hostname } from 'node:os';
import type { AuditConfig } from '../config/schema.js';
import type { KeyStore } from '../state/keys.js';
import type { ListDecisions } from '../model/list-verdict.js';
import type { Logger } from 'pino';
import type { CallContext, ListContext, RelayContext } from '../pipeline/context.js';
import { deny, ok, type Outcome } from '../pipeline/denial.js';
import type { AuditEvent, AuditSink, CallRecordOutcome, Decision } from '../pipeline/stages.js';
import { newRecordId } from '../model/canonical.js';
import type { AuditBackend } from './backend.js';
import { activeSigner } from './checkpoints.js';
import { ListRecorder } from './list-record.js';
import { eventEntry, intentEntry, outcomeEntry, type IntentRef, type RecordSettings } from './record.js';
import { SqliteBackend } from './sqlite-backend.js';
import type { Db } from './store.js';

export interface AuditLogOptions {
  settings: AuditConfig;
  keys: KeyStore;
  logger: Logger;
  now?: () => number;
  /** Removes secret values from text before it is stored (the secrets stage supplies it). */
  redact?: (text: string) => string;
  /** This gateway instance's id (a ULID per process start); one is made when absent. */
  instance?: string;
}

export interface SqliteAuditSinkOptions extends AuditLogOptions {
  db: Db;
}

/** Room beyond the quota that outcomes and events may still use once intents are refused. */
const QUOTA_RESERVE_BYTES = 256 * 1024;
/** Authentication failures recorded one by one per window; beyond that, counted into one event. */
const AUTH_FAILURES_PER_WINDOW = 20;
const AUTH_WINDOW_MS = 10_000;

/**
 * The audit stage: intents committed before forwarding (group commit), outcomes after, events, signed
 * checkpoints every N entries and at start and stop, on either store (src/audit/backend.ts).
 */
export class AuditLog implements AuditSink {
  readonly instance: string;
  private readonly refs = new WeakMap<object, IntentRef>();
  private readonly record: RecordSettings;
  private readonly lists: ListRecorder;
  private readonly now: () => number;
  private readonly log: Logger;
  private checkpointing: Promise<void> | undefined;
  private closed = false;
  private authWindow = { start: 0, recorded: 0, suppressed: 0 };
  /** Told of every commit (entries, milliseconds): the metrics' audit figures. */
  commitObserver: ((entries: number, durationMs: number) => void) | undefined;

  constructor(
    readonly backend: AuditBackend,
    private readonly options: AuditLogOptions,
  ) {
    const { settings } = options;
    this.instance = options.instance ?? newRecordId();
    this.now = options.now ?? Date.now;
    this.log = options.logger;
    this.record = {
      maxArgumentBytes: settings.maxArgumentBytes,
      maxResultBytes: settings.maxResultBytes,
      captureResults: settings.captureResults,
      redact: options.redact ?? ((text) => text),
    };
    this.lists = new ListRecorder(this.instance, this.record);
    backend.hooks.onCommitted = (entries, durationMs) => this.commitObserver?.(entries, durationMs);
    backend.hooks.onCommit = (headSeq, lastCheckpointSeq) => {
      if (headSeq - lastCheckpointSeq >= settings.checkpointEvery) void this.checkpoint();
    };
    backend.hooks.onRecovered = (recovered) =>
      void this.event({
        type: 'audit.recovered',
        data: { intents: recovered.count, instances: recovered.instances },
      });
  }

  /**
   * Registers this gateway instance, marks intents left open by gateways that are gone as
   * `unknown_outcome`, records the start, and signs a checkpoint. Throws if any of it cannot be written.
   */
  async start(details: Record<string, unknown>): Promise<{ recovered: number }> {
    const now = this.now();
    await this.backend.register(this.instance, hostname(), process.pid, now);
    const recovered = await this.backend.recover(this.instance, now);
    if (recovered.count > 0) {
      this.log.warn(
        { intents: recovered.count, instances: recovered.instances },
        'intents left open by a stopped gateway were marked unknown_outcome',
      );
      await this.mustWrite({
        type: 'audit.recovered',
        data: { intents: recovered.count, instances: recovered.instances },
      });
    }
    await this.mustWrite({
      type: 'gateway.start',
      data: { pid: process.pid, host: hostname(), durability: this.options.settings.durability, ...details },
    });
    await this.checkpoint(true);
    return { recovered: recovered.count };
  }

  async intent(ctx: CallContext | RelayContext, decision: Decision): Promise<Outcome<void>> {
    if (this.closed) return deny({ kind: 'audit_unavailable', reason: 'audit log closed: the gateway is stopping' });
    const parentId =
      'params' in ctx ? (ctx.parentRecordId ?? (ctx.parent ? this.refs.get(ctx.parent)?.id : undefined)) : undefined;
    const { entry, ref } = intentEntry(ctx, decision, this.instance, this.now(), this.record, parentId);
    try {
      await this.backend.write(entry, 'intent');
    } catch (error) {
      return deny({
        kind: 'audit_unavailable',
        reason: error instanceof Error ? error.message : 'audit log unavailable',
      });
    }
    this.refs.set(ctx, ref);
    return ok(undefined);
  }

  async outcome(ctx: CallContext | RelayContext, outcome: CallRecordOutcome): Promise<void> {
    const ref = this.refs.get(ctx);
    if (!ref) {
      this.log.error({ reqId: ctx.requestId }, 'audit outcome without a recorded intent; not written');
      return;
    }
    this.refs.delete(ctx);
    await this.backend.write(outcomeEntry(ref, outcome, this.instance, this.now(), this.record), 'outcome');
  }

  /** The record id of the call's intent, while it waits for its outcome. */
  recordId(ctx: CallContext | RelayContext): string | undefined {
    return this.refs.get(ctx)?.id;
  }

  /**
   * Records a list request: what policy replay needs to tell what a new policy would hide or show (the
   * catalogs' names, once each, and which were shown: src/audit/list-record.ts). Not an action, so not
   * fail-closed: an entry that cannot be written is logged. A list refused for an expired credential is
   * an event of its own; nothing was decided.
   */
  listed(ctx: ListContext, result: ListDecisions): void {
    if (this.closed) return;
    if (!result.refused) {
      for (const entry of this.lists.entries(ctx, result, this.now())) {
        this.backend
          .write(entry, 'event')
          .catch((error: unknown) =>
            this.log.error(
              { reqId: ctx.requestId, err: error instanceof Error ? error.message : String(error) },
              'list record could not be written',
            ),
          );
      }
      return;
    }
    void this.event({
      type: 'list.refused',
      subject: ctx.principal.subject,
      ...(ctx.principal.task && { taskId: ctx.principal.task.id }),
      data: {
        method: ctx.method,
        ingress: ctx.ingress,
        session: ctx.sessionId,
        requestId: ctx.requestId,
        hidden: result.hidden,
        reason: 'credential expired',
      },
    });
  }

  async event(event: AuditEvent): Promise<Outcome<void>> {
    try {
      await this.backend.write(eventEntry(event, this.instance, this.now(), this.record), 'event');
      return ok(undefined);
    } catch (error) {
      return deny({
        kind: 'audit_unavailable',
        reason: error instanceof Error ? error.message : 'audit log unavailable',
      });
    }
  }

  /**
   * Records an authentication failure (no secret, no token: the reason only). Unauthenticated callers
   * cannot fill the disk: past a few per window, failures are counted into one summary event.
   */
  authFailure(reason: string, details: Record<string, unknown> = {}): void {
    const now = this.now();
    const w = this.authWindow;
    if (now - w.start >= AUTH_WINDOW_MS) {
      if (w.suppressed > 0)
        void this.event({ type: 'auth.failure', data: { suppressed: w.suppressed, windowMs: AUTH_WINDOW_MS } });
      this.authWindow = { start: now, recorded: 0, suppressed: 0 };
    }
    if (this.authWindow.recorded >= AUTH_FAILURES_PER_WINDOW) {
      this.authWindow.suppressed += 1;
      return;
    }
    this.authWindow.recorded += 1;
    void this.event({ type: 'auth.failure', data: { reason, ...details } });
  }

  /** Entries waiting for a commit (metrics). */
  get queueDepth(): number {
    return this.backend.depth;
  }

  /** The store's size in bytes; undefined once closed or not known. */
  databaseBytes(): number | undefined {
    return this.backend.databaseBytes();
  }

  /** Transactions committed by this gateway (for tests and metrics: group commit shares them). */
  get commits(): number {
    return this.backend.commits;
  }

  /** Signs the chain's current end (skipped when the last checkpoint already covers it). */
  async checkpoint(required = false): Promise<void> {
    if (this.checkpointing) return this.checkpointing;
    const run = async (): Promise<void> => {
      try {
        const signer = await activeSigner(this.options.keys);
        const written = await this.backend.checkpoint(signer, this.instance, this.now());
        if (written) this.log.debug({ seq: written.seq, kid: written.kid }, 'audit checkpoint signed');
      } catch (error) {
        if (required) throw error;
        this.log.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'audit checkpoint could not be written; will retry',
        );
      }
    };
    this.checkpointing = run().finally(() => (this.checkpointing = undefined));
    return this.checkpointing;
  }

  /** Records the stop, commits what is queued, signs a last checkpoint and closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    const stopped = this.event({ type: 'gateway.stop', data: { pid: process.pid } });
    await this.backend.flush();
    await stopped;
    this.closed = true;
    if (this.backend.backlog > 0) await this.backend.flush();
    if (this.backend.backlog > 0)
      this.log.error(
        { entries: this.backend.backlog },
        'audit entries lost at shutdown; their intents will read unknown_outcome',
      );
    await this.checkpointing;
    await this.checkpoint();
    try {
      await this.backend.markStopped(this.instance, this.now());
    } catch (error) {
      this.log.warn(
        { err: error instanceof Error ? error.message : String(error) },
        'could not mark the gateway instance stopped',
      );
    }
    await this.backend.close();
  }

  private async mustWrite(event: AuditEvent): Promise<void> {
    await this.backend.write(eventEntry(event, this.instance, this.now(), this.record), 'event');
  }
}

/** The audit stage on `<dataDir>/audit.db`. */
export class SqliteAuditSink extends AuditLog {
  constructor(options: SqliteAuditSinkOptions) {
    const instance = options.instance ?? newRecordId();
    const { settings, db } = options;
    const backend = new SqliteBackend({
      db,
      instance,
      logger: options.logger,
      ...(settings.maxDatabaseBytes !== undefined && {
        quota: {
          bytes: settings.maxDatabaseBytes,
          reservePages: Math.ceil(QUOTA_RESERVE_BYTES / (db.pragma('page_size', { simple: true }) as number)),
        },
      }),
    });
    super(backend, { ...options, instance });
  }
}
