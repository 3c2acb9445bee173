import type { TelemetryConfig } from '../config/observe-schema.js';
import type { PipelineObserver } from '../pipeline/observer.js';

const VERSION = '0.1.0';

export interface Tracing {
  observer: PipelineObserver;
  /** Sends what is buffered and stops the exporter. */
  shutdown(): Promise<void>;
}

/** Whether traces are exported: an endpoint in config, or the standard OpenTelemetry variables. */
export function tracingConfigured(config: TelemetryConfig, env: NodeJS.ProcessEnv = process.env): boolean {
  return (
    config.otlp.endpoint !== undefined ||
    Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT) ||
    Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
  );
}

/**
 * Starts trace export, or does nothing at all: without an endpoint the SDK, the exporter and the
 * OpenTelemetry API are never imported, no span is made and nothing is sent.
 */
export async function startTracing(
  config: TelemetryConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Tracing | undefined> {
  if (!tracingConfigured(config, env)) return undefined;
  const [{ createOtlpTracing }, { TracingObserver }] = await Promise.all([
    import('./otel-sdk.js'),
    import('./tracing.js'),
  ]);
  const sdk = createOtlpTracing({
    ...(config.otlp.endpoint !== undefined && { endpoint: config.otlp.endpoint }),
    headers: config.otlp.headers,
    serviceName: config.serviceName,
    version: VERSION,
  });
  return {
    observer: new TracingObserver(sdk.tracer, { includeIdentity: config.includeIdentity }),
    shutdown: sdk.shutdown,
  };
}

/** Both observers, one, or none. */
export function combineObservers(observers: readonly (PipelineObserver | undefined)[]): PipelineObserver | undefined {
  const present = observers.filter((o): o is PipelineObserver => o !== undefined);
  if (present.length <= 1) return present[0];
  return {
    begin(ctx, at) {
      const each = present.map((o) => o.begin(ctx, at));
      return {
        stage: (stage, when) => each.forEach((o) => o.stage(stage, when)),
        downstream: () => each.reduce<string | undefined>((found, o) => o.downstream() ?? found, undefined),
        end: (when, decision, status) => each.forEach((o) => o.end(when, decision, status)),
      };
    },
    list(ctx, at) {
      const each = present.flatMap((o) => (o.list ? [o.list(ctx, at)] : []));
      return { end: (when, result) => each.forEach((o) => o.end(when, result)) };
    },
    relay(ctx, at) {
      const each = present.flatMap((o) => (o.relay ? [o.relay(ctx, at)] : []));
      return { end: (when, status) => each.forEach((o) => o.end(when, status)) };
    },
  };
}
