import { z } from 'zod';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Prometheus metrics (README, Monitoring). Served on the console's admin listener, or on a listener of
 * their own when `port` is set; on the agents' listener only when `agentListener` says so.
 */
export const MetricsSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** A listener for `/metrics` alone (0 picks a free port). Without it, `/metrics` is served by the console's listener. */
    port: z.number().int().min(0).max(65_535).optional(),
    /** The dedicated listener's address; loopback by default. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Also serve `/metrics` on the agents' listener (off: agents never see the gateway's figures). */
    agentListener: z.boolean().default(false),
    /**
     * Name of an environment variable holding a bearer token. A scraper that is not on this machine
     * must send `Authorization: Bearer <token>`; without one, only loopback peers are answered.
     */
    bearerTokenEnv: z.string().regex(ENV_NAME, 'must be an environment variable name').optional(),
    /** Distinct tool names a metric may carry; beyond it, further tools are counted as `_other`. */
    maxToolLabels: z.number().int().min(1).max(10_000).default(500),
  })
  .strict();

/** OpenTelemetry traces. Nothing is loaded or sent unless an OTLP endpoint is configured here or in `OTEL_EXPORTER_OTLP_*`. */
export const TelemetrySchema = z
  .object({
    otlp: z
      .object({
        /** OTLP/HTTP base URL (the collector's, e.g. http://127.0.0.1:4318); traces go to `<endpoint>/v1/traces`. */
        endpoint: z.string().url().optional(),
        /** Extra headers for the collector (use `${ENV}` for credentials; never write one here). */
        headers: z
          .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name'), z.string())
          .default({}),
      })
      .strict()
      .default({ headers: {} }),
    serviceName: z.string().min(1).max(200).default('mcp-warden'),
    /** Put the caller's subject and task id on spans (off: spans carry no identity). */
    includeIdentity: z.boolean().default(false),
  })
  .strict();

export type MetricsConfig = z.infer<typeof MetricsSchema>;
export type TelemetryConfig = z.infer<typeof TelemetrySchema>;
