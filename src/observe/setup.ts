import { performance } from 'node:perf_hooks';
import type { LoadedConfig } from '../config/load.js';
import type { AuthFailureKind } from '../model/principal.js';
import type { PipelineObserver } from '../pipeline/observer.js';
import type { AuditEvent } from '../pipeline/stages.js';
import { stateFile } from '../state/db.js';
import type { Logger } from './logger.js';
import type { GatewayMetrics } from './metrics.js';
import { metricsEndpoint, metricsToken, startMetricsListener, type MetricsEndpoint } from './metrics-http.js';
import { StateGauges } from './state-gauges.js';
import { combineObservers, startTracing, type Tracing } from './telemetry.js';

/** Epoch milliseconds with sub-millisecond resolution: stage timings and span times. */
const preciseNow = (): number => performance.timeOrigin + performance.now();

/** Where the approvals-waiting and definitions-held gauges are read: state.db, or the shared store. */
export interface StateSource {
  approvalsWaiting(): Promise<number | undefined> | number | undefined;
  definitionsHeld(): Promise<Record<string, number> | undefined> | Record<string, number> | undefined;
  close(): void;
}

/** What the running gateway lends the metrics to read at scrape time. */
export interface ObservedParts {
  sessionCount: () => number;
  breakers: () => Readonly<Record<string, { state: string }>>;
  audit: {
    queueDepth: number;
    databaseBytes(): number | undefined;
    commitObserver: ((entries: number, ms: number) => void) | undefined;
  };
  policyVersion?: () => string | undefined;
}

/**
 * Metrics and traces for one gateway process, as configured (`metrics`, `telemetry`). With neither,
 * every member is undefined and the pipeline runs with no observer at all.
 */
export class Observability {
  private listener: { url: string; close(): Promise<void> } | undefined;

  private constructor(
    private readonly loaded: LoadedConfig,
    readonly metrics: GatewayMetrics | undefined,
    readonly tracing: Tracing | undefined,
    /** `GET /metrics` for whichever listener serves it. */
    readonly endpoint: MetricsEndpoint | undefined,
    private state: { source: StateSource } | undefined,
  ) {}

  /** Checks the metrics token and loads the trace exporter (only when an endpoint is configured). */
  static async start(loaded: LoadedConfig, logger: Logger): Promise<Observability> {
    const settings = loaded.config.metrics;
    let metrics: GatewayMetrics | undefined;
    let endpoint: MetricsEndpoint | undefined;
    let state: { source: StateSource } | undefined;
    if (settings.enabled) {
      const token = metricsToken(settings.bearerTokenEnv);
      const quota = loaded.config.audit.maxDatabaseBytes;
      // prom-client is loaded only when metrics are on.
      const { GatewayMetrics } = await import('./metrics.js');
      metrics = new GatewayMetrics({
        maxToolLabels: settings.maxToolLabels,
        ...(quota !== undefined && { auditQuotaBytes: quota }),
      });
      const read = (state = { source: new StateGauges(stateFile(loaded.dataDir)) as StateSource });
      metrics.attach({
        approvalsWaiting: () => read.source.approvalsWaiting(),
        definitionsHeld: () => read.source.definitionsHeld(),
      });
      endpoint = metricsEndpoint(metrics, token, logger.child({ component: 'metrics' }));
    }
    const tracing = await startTracing(loaded.config.telemetry);
    if (tracing)
      logger.info(
        { endpoint: loaded.config.telemetry.otlp.endpoint ?? 'from OTEL_EXPORTER_OTLP_*' },
        'exporting traces over OTLP/HTTP',
      );
    return new Observability(loaded, metrics, tracing, endpoint, state);
  }

  /** The pipeline's observer and its clock; both undefined when nothing is observed. */
  get pipeline(): { observer?: PipelineObserver; clock?: () => number } {
    const observer = combineObservers([this.metrics, this.tracing?.observer]);
    return observer ? { observer, clock: preciseNow } : {};
  }

  authFailure(kind: AuthFailureKind): void {
    this.metrics?.authFailure(kind);
  }

  /** Policy and pin events pass here on their way to the audit log: a failed reload is counted. */
  event(event: AuditEvent): void {
    if (event.type === 'policy.reload' && event.data?.ok === false) this.metrics?.policyReloadFailed();
  }

  attach(parts: ObservedParts): void {
    const metrics = this.metrics;
    if (!metrics) return;
    parts.audit.commitObserver = (entries, ms) => metrics.auditCommitted(entries, ms);
    metrics.attach({
      sessionsOpen: parts.sessionCount,
      breakers: parts.breakers,
      audit: { queueDepth: () => parts.audit.queueDepth, databaseBytes: () => parts.audit.databaseBytes() },
      ...(parts.policyVersion && { policyVersion: parts.policyVersion }),
    });
  }

  /**
   * With `store.kind: postgres`, pending approvals and held definitions live in the shared store: the gauges
   * read it from now on, not this replica's state.db.
   */
  readStateFrom(source: StateSource): void {
    if (!this.state) return;
    this.state.source.close();
    this.state.source = source;
  }

  /** The dedicated listener, when `metrics.port` is set; its URL. */
  async listen(logger: Logger): Promise<string | undefined> {
    const settings = this.loaded.config.metrics;
    if (!this.endpoint || settings.port === undefined) return undefined;
    this.listener = await startMetricsListener({
      endpoint: this.endpoint,
      host: settings.host,
      port: settings.port,
      logger,
    });
    return this.listener.url;
  }

  /** Whether the console's listener serves `/metrics` (no dedicated port). */
  get onConsole(): boolean {
    return this.endpoint !== undefined && this.loaded.config.metrics.port === undefined;
  }

  get onAgentListener(): boolean {
    return this.endpoint !== undefined && this.loaded.config.metrics.agentListener;
  }

  async close(): Promise<void> {
    await this.listener?.close();
    this.state?.source.close();
    await this.tracing?.shutdown().catch(() => undefined);
  }
}
