import { systemClock, type Clock } from '../model/clock.js';
import type { Logger } from 'pino';
import type { AuditEvent, AuditSink } from '../pipeline/stages.js';
import { SessionTasks, type TaskGovernance } from '../tasks/session.js';
import { TaskStore, stateFile } from '../tasks/store.js';
import { TaskRegistry, type RevocationSource } from '../tasks/tasks.js';
import type { SharedRates } from '../policy/authorizer.js';
import type { SharedTasks } from '../state/shared.js';
import type { LoadedConfig } from '../config/load.js';
import { PolicyAuthorizer } from '../policy/authorizer.js';
import { loadPolicy, type PolicyFileRef } from '../policy/load.js';
import type { TaskSettings } from '../policy/schema.js';
import { policyFiles } from '../policy/setup.js';
import { PolicyHolder, PolicyWatcher, type ReloadResult } from '../policy/watch.js';

export interface GovernanceOptions {
  files: readonly PolicyFileRef[];
  dataDir: string;
  /** Reload the files when they change. */
  watch: boolean;
  logger: Logger;
  events: Pick<AuditSink, 'event'>;
  /** The clock tasks expire on (default: the system clock). */
  clock?: Clock;
  /** How often to look for revocations made elsewhere, to tell idle sessions (calls always look). */
  pollMs?: number;
}

/*
 * Composition: policy and tasks are two stages; this is where they meet.
 */

/**
 * Policy and tasks for one gateway process: the policy in force (hot-reloaded), the authorizer that
 * applies it, and the task registry shared with every process on the data folder. Listeners hear about
 * anything that may change what an agent sees (a reload, a revocation made elsewhere).
 */
export class Governance implements TaskGovernance {
  readonly holder: PolicyHolder;
  readonly authorizer: PolicyAuthorizer;
  readonly registry: TaskRegistry;
  readonly logger: Logger;
  private readonly watcher: PolicyWatcher;
  private readonly listeners = new Set<() => void>();
  readonly clock: Clock;
  private readonly now: () => number;

  /** Loads the policy (a bad one is a start-up error naming file and path) and opens the task database. */
  static open(options: GovernanceOptions): Governance {
    const policy = loadPolicy(options.files);
    const store = TaskStore.open(stateFile(options.dataDir));
    return new Governance(options, new PolicyHolder(policy), store);
  }

  private constructor(
    private readonly options: GovernanceOptions,
    holder: PolicyHolder,
    store: TaskStore,
  ) {
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock();
    this.now = () => this.clock.now();
    this.holder = holder;
    this.authorizer = new PolicyAuthorizer(holder);
    this.registry = new TaskRegistry(store, options.logger);
    this.watcher = new PolicyWatcher(options.files, holder, (result) => this.reloaded(result));
  }

  start(): void {
    const policy = this.holder.current;
    this.logger.info(
      { version: policy.version, files: policy.files, rules: policy.ruleCount, agents: policy.agents.length },
      'policy loaded',
    );
    this.record({
      type: 'policy.load',
      data: { version: policy.version, files: policy.files, rules: policy.ruleCount },
    });
    this.registry.sync(this.now());
    this.holder.onSwap(() => this.emit());
    this.registry.onChange(() => this.emit());
    this.registry.startPolling(this.options.pollMs ?? 1_000, this.now);
    if (this.options.watch) this.watcher.start();
  }

  /**
   * Several replicas on one PostgreSQL: revocations come from this replica's cache of the shared store
   * (sessions are told as soon as it is re-read), rate limits are counted in the store, and task rows are
   * read and written there (a task begun on one replica is found on every other). Before `start`.
   */
  useSharedStore(
    revocations: RevocationSource & { onRefresh(listener: () => void): () => void },
    rates: SharedRates,
    tasks: SharedTasks,
  ): void {
    this.registry.useRevocations(revocations, 'shared store');
    this.registry.useTasks(tasks);
    revocations.onRefresh(() => this.registry.sync(this.now()));
    this.authorizer.useSharedRates(rates);
  }

  /** Reloads the files now (what the watcher does on a change). */
  reload(): ReloadResult {
    const result = this.watcher.reload();
    this.reloaded(result);
    return result;
  }

  sessionTasks(sessionId: () => string, onChange: () => void, handleKey?: string): SessionTasks {
    return new SessionTasks(this, sessionId, onChange, handleKey);
  }

  taskSettings(): TaskSettings {
    return this.holder.current.tasks;
  }

  /** Records an event; a failure is logged (the calls themselves are recorded fail-closed by the pipeline). */
  record(event: AuditEvent): void {
    this.options.events
      .event(event)
      .then((outcome) => {
        if (!outcome.ok)
          this.logger.error({ type: event.type, reason: outcome.denial.reason }, 'audit event could not be written');
      })
      .catch((error: unknown) =>
        this.logger.error({ type: event.type, err: (error as Error).message }, 'audit event could not be written'),
      );
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.watcher.close();
    this.registry.close();
    this.clock.close();
  }

  private reloaded(result: ReloadResult): void {
    if (!result.ok) {
      this.logger.error(
        { error: result.error, version: result.version },
        'policy reload failed; the last good policy stays in force',
      );
      this.record({ type: 'policy.reload', data: { ok: false, error: result.error, version: result.version } });
      return;
    }
    if (!result.changed) return;
    const policy = this.holder.current;
    this.logger.info(
      { version: result.version, previous: result.previous, rules: policy.ruleCount },
      'policy reloaded',
    );
    this.record({
      type: 'policy.reload',
      data: {
        ok: true,
        version: result.version,
        previous: result.previous,
        files: policy.files,
        rules: policy.ruleCount,
      },
    });
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }
}

/**
 * Opens policy and tasks when the config names policy files (a bad policy stops the start with file and
 * path). Without a policy: undefined, and in jwt mode a warning, since only token task grants then narrow.
 * `clock` makes the clock tasks expire on (called only when there is a policy).
 */
export function governanceFor(
  loaded: LoadedConfig,
  logger: Logger,
  events: Pick<AuditSink, 'event'>,
  clock?: () => Clock,
): Governance | undefined {
  const policy = loaded.config.policy;
  if (!policy) {
    if (loaded.config.auth?.mode === 'jwt') {
      logger.warn(
        'no policy configured ("policy": {"files": [...]}): agents may use everything their token task grants, or everything when the token names none',
      );
    }
    return undefined;
  }
  return Governance.open({
    files: policyFiles(loaded),
    dataDir: loaded.dataDir,
    watch: policy.watch,
    logger: logger.child({ component: 'policy' }),
    events,
    ...(clock && { clock: clock() }),
  });
}
