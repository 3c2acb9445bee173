// Loaded only when traces are exported (src/observe/telemetry.ts): the only file that imports the OpenTelemetry SDK.
import { randomBytes } from 'node:crypto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type IdGenerator } from '@opentelemetry/sdk-trace';
import type { Tracer } from '@opentelemetry/api';
import { nextTraceId } from './tracing.js';

/** Random ids, except a root span's trace id when the pipeline names the one its audit record uses. */
const idGenerator: IdGenerator = {
  generateTraceId: () => nextTraceId.value ?? randomBytes(16).toString('hex'),
  generateSpanId: () => randomBytes(8).toString('hex'),
};

export interface OtlpOptions {
  /** Base URL; absent, the exporter reads `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  endpoint?: string;
  headers: Readonly<Record<string, string>>;
  serviceName: string;
  version: string;
}

export function createOtlpTracing(options: OtlpOptions): { tracer: Tracer; shutdown(): Promise<void> } {
  const exporter = new OTLPTraceExporter({
    ...(options.endpoint !== undefined && { url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces` }),
    ...(Object.keys(options.headers).length > 0 && { headers: { ...options.headers } }),
  });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName, 'service.version': options.version }),
    idGenerator,
    spanProcessors: [new BatchSpanProcessor({ exporter })],
  });
  return { tracer: provider.getTracer('mcp-warden', options.version), shutdown: () => provider.shutdown() };
}
