// Over 300 lines: every Prometheus metric the gateway exports, defined and recorded in one registry (README, Monitoring).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuthFailureKind } from '../model/principal.js';
import { protocolEra } from '../model/protocol-era.js';
import type { CallContext, ListContext, RelayContext } from '../pipeline/context.js';
import type {
  CallObservation,
  ListObservation,
  PipelineObserver,
  RelayObservation,
  StageName,
} from '../pipeline/observer.js';
import type { CallStatus, Decision } from '../pipeline/stages.js';

/** What the gauges read at scrape time; each part is optional (a console-only process has no sessions). */
export interface MetricSources {
  sessionsOpen?: () => number;
  /** Read from the configured store (state.db or PostgreSQL), so possibly asynchronous. */
  approvalsWaiting?: () => Promise<number | undefined> | number | undefined;
  /** Definitions held back from agents, by pin status (`quarantined`, `pending`). */
  definitionsHeld?: () =>
    Promise<Readonly<Record<string, number>> | undefined> | Readonly<Record<string, number>> | undefined;
  audit?: {
    queueDepth: () => number;
    databaseBytes: () => number | undefined;
  };
  policyVersion?: () => string | undefined;
  /** Each server's circuit breaker state (`closed`, `open`, `half-open`). */
  breakers?: () => Readonly<Record<string, { state: string }>>;
}

const BREAKER_STATES = ['closed', 'open', 'half-open'];

/** The methods whose target is a name the gateway registered (a tool or prompt); resource URIs never become a label. */
const NAMED_TARGETS = new Set<string>(['tools/call', 'prompts/get']);
const OTHER = '_other';

const STAGE_BUCKETS = [
  0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const CALL_BUCKETS = [0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const GROUP_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];

/**
 * The gateway's Prometheus metrics on a registry of its own. Every label has a bounded set of values by
 * construction: server ids come from config, tool and prompt names only from routed calls and at most
 * `maxToolLabels` of them, everything else from fixed enumerations. Never a subject, task id or argument.
 */
export class GatewayMetrics implements PipelineObserver {
  readonly registry = new Registry();
  private readonly tools = new Set<string>();
  /** Label children by their joined values: prom-client hashes a label object on every call otherwise. */
  private readonly children = new Map<string, { inc(): void } | { observe(value: number): void }>();
  private sources: MetricSources = {};
  private readonly calls: Counter<'ingress' | 'era' | 'method' | 'server' | 'tool' | 'decision' | 'outcome'>;
  private readonly callSeconds: Histogram<'method' | 'outcome'>;
  private readonly stageSeconds: Histogram<'stage'>;
  private readonly downstreamSeconds: Histogram<'server'>;
  private readonly downstreamErrors: Counter<'server' | 'outcome'>;
  private readonly rateLimited: Counter<'server'>;
  private readonly lists: Counter<'ingress' | 'era' | 'method' | 'refused'>;
  private readonly relays: Counter<'ingress' | 'era' | 'method' | 'server' | 'outcome'>;
  private readonly authFailures: Counter<'reason'>;
  private readonly reloadFailures: Counter;
  private readonly commitSeconds: Histogram;
  private readonly commitEntries: Histogram;

  constructor(private readonly options: { maxToolLabels: number; processMetrics?: boolean; auditQuotaBytes?: number }) {
    const registers = [this.registry];
    const self = (): MetricSources => this.sources;
    this.calls = new Counter({
      name: 'mcp_warden_calls_total',
      help: 'Calls by decision and outcome',
      labelNames: ['ingress', 'era', 'method', 'server', 'tool', 'decision', 'outcome'],
      registers,
    });
    this.callSeconds = new Histogram({
      name: 'mcp_warden_call_duration_seconds',
      help: 'Whole call latency, arrival to recorded outcome',
      labelNames: ['method', 'outcome'],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.stageSeconds = new Histogram({
      name: 'mcp_warden_stage_duration_seconds',
      help: 'Time spent in each pipeline stage',
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS,
      registers,
    });
    this.downstreamSeconds = new Histogram({
      name: 'mcp_warden_downstream_duration_seconds',
      help: 'Downstream request latency per server',
      labelNames: ['server'],
      buckets: CALL_BUCKETS,
      registers,
    });
    this.downstreamErrors = new Counter({
      name: 'mcp_warden_downstream_errors_total',
      help: 'Forwarded calls that failed or timed out, per server',
      labelNames: ['server', 'outcome'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'mcp_warden_rate_limit_refusals_total',
      help: 'Calls refused by a rate limit',
      labelNames: ['server'],
      registers,
    });
    this.lists = new Counter({
      name: 'mcp_warden_list_requests_total',
      help: 'List requests (tools/list, …), refused when the credential had expired',
      labelNames: ['ingress', 'era', 'method', 'refused'],
      registers,
    });
    this.relays = new Counter({
      name: 'mcp_warden_relayed_requests_total',
      help: 'Requests servers sent towards the agent (sampling, elicitation, roots), by outcome',
      labelNames: ['ingress', 'era', 'method', 'server', 'outcome'],
      registers,
    });
    this.authFailures = new Counter({
      name: 'mcp_warden_auth_failures_total',
      help: 'Token verification failures by reason',
      labelNames: ['reason'],
      registers,
    });
    this.reloadFailures = new Counter({
      name: 'mcp_warden_policy_reload_failures_total',
      help: 'Policy reloads that failed (the last good policy stayed in force)',
      registers,
    });
    this.commitSeconds = new Histogram({
      name: 'mcp_warden_audit_commit_duration_seconds',
      help: 'Audit group-commit transaction latency',
      buckets: STAGE_BUCKETS,
      registers,
    });
    this.commitEntries = new Histogram({
      name: 'mcp_warden_audit_commit_entries',
      help: 'Entries per audit group commit',
      buckets: GROUP_BUCKETS,
      registers,
    });
    gauge(registers, 'mcp_warden_sessions_open', 'Agent sessions open', () => self().sessionsOpen?.());
    gauge(registers, 'mcp_warden_approvals_waiting', 'Approval requests waiting for a person', () =>
      self().approvalsWaiting?.(),
    );
    gauge(registers, 'mcp_warden_audit_queue_depth', 'Audit entries waiting to be committed (queued and retried)', () =>
      self().audit?.queueDepth(),
    );
    gauge(registers, 'mcp_warden_audit_database_bytes', 'Size of the audit database', () =>
      self().audit?.databaseBytes(),
    );
    const quota = options.auditQuotaBytes;
    if (quota !== undefined) {
      gauge(
        registers,
        'mcp_warden_audit_quota_headroom_bytes',
        'Bytes left before the audit quota (audit.maxDatabaseBytes) refuses calls',
        () => {
          const bytes = self().audit?.databaseBytes();
          return bytes === undefined ? undefined : quota - bytes;
        },
      );
    }
    new Gauge({
      name: 'mcp_warden_definitions_held',
      help: 'Tool and prompt definitions held back from agents, by pin status',
      labelNames: ['status'],
      registers,
      async collect() {
        const held = await self().definitionsHeld?.();
        this.reset();
        for (const status of ['quarantined', 'pending']) if (held) this.set({ status }, held[status] ?? 0);
      },
    });
    new Gauge({
      name: 'mcp_warden_circuit_breaker_state',
      help: "Each server's circuit breaker: 1 for the state it is in, 0 for the others",
      labelNames: ['server', 'state'],
      registers,
      collect() {
        this.reset();
        for (const [server, breaker] of Object.entries(self().breakers?.() ?? {})) {
          for (const state of BREAKER_STATES) this.set({ server, state }, breaker.state === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'mcp_warden_policy_info',
      help: 'The policy version in force (value 1)',
      labelNames: ['version'],
      registers,
      collect() {
        const version = self().policyVersion?.();
        this.reset();
        if (version !== undefined) this.set({ version }, 1);
      },
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Connects the gauges to the parts of the running gateway they read. */
  attach(sources: MetricSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  begin(ctx: CallContext, at: number): CallObservation {
    return new CallMetrics(this, ctx, at);
  }

  list(ctx: ListContext): ListObservation {
    return {
      end: (_at, result) =>
        this.lists.inc({
          ingress: ctx.ingress,
          era: protocolEra(ctx.protocolVersion),
          method: ctx.method,
          refused: String(result.refused),
        }),
    };
  }

  relay(ctx: RelayContext): RelayObservation {
    return {
      end: (_at, status) =>
        this.relays.inc({
          ingress: ctx.ingress,
          era: protocolEra(ctx.protocolVersion),
          method: ctx.method,
          server: ctx.server,
          outcome: status,
        }),
    };
  }

  authFailure(reason: AuthFailureKind): void {
    this.authFailures.inc({ reason });
  }

  policyReloadFailed(): void {
    this.reloadFailures.inc();
  }

  auditCommitted(entries: number, durationMs: number): void {
    this.commitSeconds.observe(durationMs / 1000);
    this.commitEntries.observe(entries);
  }

  /** Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** @internal The label a call's target gets: a registered tool or prompt name, at most `maxToolLabels` of them. */
  toolLabel(ctx: CallContext): string {
    if (ctx.server === '' || !NAMED_TARGETS.has(ctx.method)) return '';
    if (this.tools.has(ctx.target)) return ctx.target;
    if (this.tools.size >= this.options.maxToolLabels) return OTHER;
    this.tools.add(ctx.target);
    return ctx.target;
  }

  /** @internal */
  recordStage(stage: StageName, seconds: number, server: string): void {
    this.histogram(this.stageSeconds, `s|${stage}`, { stage }).observe(seconds);
    if (stage === 'forward') this.histogram(this.downstreamSeconds, `d|${server}`, { server }).observe(seconds);
  }

  /** @internal */
  recordCall(ctx: CallContext, seconds: number, decision: Decision, status: CallStatus, forwarded: boolean): void {
    const label = decision.effect === 'deny' ? 'deny' : decision.approvalRequired ? 'approval' : 'allow';
    const tool = this.toolLabel(ctx);
    const era = protocolEra(ctx.protocolVersion);
    const key = `c|${ctx.ingress}|${era}|${ctx.method}|${ctx.server}|${tool}|${label}|${status}`;
    let calls = this.children.get(key) as { inc(): void } | undefined;
    if (!calls) {
      calls = this.calls.labels({
        ingress: ctx.ingress,
        era,
        method: ctx.method,
        server: ctx.server,
        tool,
        decision: label,
        outcome: status,
      });
      this.children.set(key, calls);
    }
    calls.inc();
    this.histogram(this.callSeconds, `t|${ctx.method}|${status}`, { method: ctx.method, outcome: status }).observe(
      seconds,
    );
    if (forwarded && (status === 'downstream_failed' || status === 'timeout'))
      this.downstreamErrors.inc({ server: ctx.server, outcome: status });
    if (decision.refusal?.kind === 'rate_limited') this.rateLimited.inc({ server: ctx.server });
  }

  /** The child of `family` for these labels, made once (the keys are as bounded as the labels). */
  private histogram<L extends string>(
    family: Histogram<L>,
    key: string,
    labels: Partial<Record<L, string>>,
  ): { observe(value: number): void } {
    let child = this.children.get(key) as { observe(value: number): void } | undefined;
    if (!child) {
      child = family.labels(labels);
      this.children.set(key, child);
    }
    return child;
  }
}

class CallMetrics implements CallObservation {
  private last: number;
  private forwarded = false;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly ctx: CallContext,
    private readonly startedAt: number,
  ) {
    this.last = startedAt;
  }

  stage(stage: StageName, at: number): void {
    if (stage === 'forward') this.forwarded = true;
    this.metrics.recordStage(stage, Math.max(0, at - this.last) / 1000, this.ctx.server);
    this.last = at;
  }

  downstream(): undefined {
    return undefined;
  }

  end(at: number, decision: Decision, status: CallStatus): void {
    this.metrics.recordCall(this.ctx, Math.max(0, at - this.startedAt) / 1000, decision, status, this.forwarded);
  }
}

/** A gauge without labels whose value is read at scrape time; when the reader has none, prom-client shows 0. */
function gauge(
  registers: Registry[],
  name: string,
  help: string,
  read: () => Promise<number | undefined> | number | undefined,
): void {
  new Gauge({
    name,
    help,
    registers,
    async collect() {
      const value = await read();
      this.reset();
      if (value !== undefined) this.set(value);
    },
  });
}
