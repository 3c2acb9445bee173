// Over 300 lines: the whole mcp.config.json schema, one named zod schema per section.
import { z } from 'zod';
import { MetricsSchema, TelemetrySchema } from './observe-schema.js';
import { SecretsSchema, ServerSecretsSchema, templateNames } from './secrets-schema.js';
import { StoreSchema } from './store-schema.js';

/** Server ids double as the default tool-name prefix, so they are short, lower-case and unambiguous. */
export const SERVER_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** https everywhere; plain http only to this machine. */
const DownstreamUrlSchema = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
    return;
  }
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  ctx.addIssue({ code: 'custom', message: 'must be an https URL (loopback may use http)' });
});

const EnvMapSchema = z.record(z.string().regex(ENV_NAME_PATTERN, 'must be an environment variable name'), z.string());
const HeaderMapSchema = z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name'), z.string());

const commonServerFields = {
  description: z.string().max(500).optional(),
  enabled: z.boolean().default(true),
  /** Per-call deadline; the call is cancelled downstream when it passes. */
  timeoutMs: z.number().int().min(100).max(3_600_000).optional(),
  /** How long connecting (the transport and `initialize`) may take before it counts as a failure. */
  connectTimeoutMs: z.number().int().min(100).max(120_000).default(20_000),
  /** Namespace prefix for tools and prompts: `<prefix>__<name>`. Defaults to the id; `false` switches it off. */
  prefix: z
    .union(
      [z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/, 'must be 1-32 letters, digits or dashes'), z.literal(false)],
      {
        error: 'must be 1-32 letters, digits or dashes, or false',
      },
    )
    .optional(),
  /** One pooled connection for every agent session instead of one per session. */
  shared: z.boolean().default(false),
  /** Secrets injected into this server's calls (see README, Secrets). */
  secrets: ServerSecretsSchema.optional(),
  /** Tool and prompt definition pins (docs/integrity.md): what happens on first sight and on a change. */
  pinning: z.enum(['trust-on-first-use', 'require-approval', 'off']).default('trust-on-first-use'),
  /**
   * The MCP revision the server is spoken to at: `2026-07-28` (stateless, SDK v2 client), `2025-11-25`
   * (initialize and a session), or `auto` (today: as 2025-11-25; probing with server/discover is to come).
   */
  protocol: z.enum(['auto', '2025-11-25', '2026-07-28']).default('auto'),
  /** Quarantine definitions whose text is flagged as instructions aimed at the model, even on first sight. */
  quarantineFlagged: z.boolean().default(false),
};

export const LaunchSchema = z
  .object({
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    env: EnvMapSchema.default({}),
    cwd: z.string().optional(),
    readyTimeoutMs: z.number().int().min(100).max(120_000).default(15_000),
  })
  .strict();

export const StdioServerSchema = z
  .object({
    transport: z.literal('stdio'),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    env: EnvMapSchema.default({}),
    cwd: z.string().optional(),
    ...commonServerFields,
  })
  .strict();

export const HttpServerSchema = z
  .object({
    transport: z.literal('http'),
    url: DownstreamUrlSchema,
    headers: HeaderMapSchema.default({}),
    /** Start and supervise this process; a URL with port 0 gets a free port, passed to it as PORT. */
    launch: LaunchSchema.optional(),
    ...commonServerFields,
  })
  .strict();

export const SseServerSchema = z
  .object({
    transport: z.literal('sse'),
    url: DownstreamUrlSchema,
    headers: HeaderMapSchema.default({}),
    /** As for `http`: start and supervise this process (port 0 in the URL: a free port, passed as PORT). */
    launch: LaunchSchema.optional(),
    ...commonServerFields,
  })
  .strict();

export const ServerSchema = z.discriminatedUnion('transport', [StdioServerSchema, HttpServerSchema, SseServerSchema]);

export const GatewaySchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(8787),
    /** Extra Host header values accepted besides the bind address and loopback names. */
    allowedHosts: z.array(z.string().min(1)).default([]),
    /** Browser origins accepted; requests without an Origin header are always accepted. */
    allowedOrigins: z.array(z.string().min(1)).default([]),
    maxBodyBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(4 * 1024 * 1024),
    /** Limits on every JSON-RPC message from an agent (HTTP and stdio alike), checked on the raw text before it is parsed. */
    maxJsonDepth: z.number().int().min(4).max(1000).default(64),
    /** Most members one JSON object in a message may have. */
    maxJsonKeys: z.number().int().min(16).max(1_000_000).default(10_000),
    /** Most JSON values (containers, members, elements) in one message. */
    maxJsonNodes: z.number().int().min(64).max(10_000_000).default(100_000),
    /** Time a client has to send a request body once its headers arrived (slow-body protection). */
    bodyTimeoutMs: z.number().int().min(100).max(300_000).default(30_000),
    sessionIdleSeconds: z.number().int().min(5).max(86_400).default(900),
    maxSessions: z.number().int().min(1).max(100_000).default(2000),
    /** Open HTTP sessions one principal (issuer, subject, tenant) may hold at most, so one agent cannot take them all. */
    maxSessionsPerPrincipal: z.number().int().min(1).max(100_000).default(1000),
    listPageSize: z.number().int().min(1).max(10_000).default(500),
    /** `tools/call` over HTTP without the SDK's protocol layer where it can be answered exactly (docs/performance.md); `false`: always the SDK path. */
    hotPath: z.boolean().default(true),
    defaultTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
    /** Human approval of calls a policy marks `approval: required` (docs/integrity.md). */
    approvals: z
      .object({
        /** How long an approval request stays open, and an approval stays usable; also the elicitation's timeout. */
        ttlSeconds: z.number().int().min(1).max(86_400).default(300),
        /** Ask the agent host's user in-band when the agent supports elicitation; `false`: always out-of-band (headless agents that could answer for themselves). */
        elicitation: z.boolean().default(true),
      })
      .strict()
      .default({ ttlSeconds: 300, elicitation: true }),
  })
  .strict();

const ALGORITHMS = ['EdDSA', 'ES256', 'ES384', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;

/** https everywhere; plain http only to this machine. Used for JWKS endpoints as for downstreams. */
const JwksUrlSchema = DownstreamUrlSchema;

export const IssuerSchema = z
  .object({
    /** Exact `iss` value. */
    issuer: z.string().min(1).max(500),
    /** Remote JWKS (an identity provider). */
    jwksUri: JwksUrlSchema.optional(),
    /** A JWKS file, relative to the config file; re-read when it changes. */
    jwksFile: z.string().min(1).optional(),
    /** Name of an environment variable holding a shared HMAC secret. Only for issuers without public keys. */
    hmacSecretEnv: z.string().regex(ENV_NAME_PATTERN, 'must be an environment variable name').optional(),
    algorithms: z
      .array(z.enum([...ALGORITHMS, ...HMAC_ALGORITHMS]))
      .min(1)
      .optional(),
    jwksTimeoutMs: z.number().int().min(100).max(60_000).default(5_000),
    jwksCooldownSeconds: z.number().int().min(0).max(3_600).default(30),
    jwksCacheMaxAgeSeconds: z.number().int().min(1).max(86_400).default(600),
  })
  .strict()
  .superRefine((issuer, ctx) => {
    const sources = [issuer.jwksUri, issuer.jwksFile, issuer.hmacSecretEnv].filter((v) => v !== undefined).length;
    if (sources !== 1)
      ctx.addIssue({ code: 'custom', message: 'needs exactly one of jwksUri, jwksFile, hmacSecretEnv' });
    const hmac = (issuer.algorithms ?? []).filter((a) => (HMAC_ALGORITHMS as readonly string[]).includes(a));
    if (issuer.hmacSecretEnv === undefined && hmac.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['algorithms'],
        message: 'HMAC algorithms are only allowed with hmacSecretEnv',
      });
    }
    if (
      issuer.hmacSecretEnv !== undefined &&
      (issuer.algorithms ?? []).some((a) => !(HMAC_ALGORITHMS as readonly string[]).includes(a))
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['algorithms'],
        message: 'an HMAC issuer may only list HS256, HS384 or HS512',
      });
    }
  });

export const BuiltinIssuerSchema = z
  .object({
    /** The `iss` of tokens the gateway issues with its own key (`mcp-warden token issue`). */
    issuer: z.string().min(1).max(500).default('urn:mcp-warden:builtin'),
    /** Default lifetime of issued tokens. */
    defaultTtlSeconds: z.number().int().min(10).max(86_400).default(900),
  })
  .strict();

export const AuthSchema = z.discriminatedUnion('mode', [
  z
    .object({
      /** Development only: every caller is this one fixed principal. Loudly logged, refused off loopback. */
      mode: z.literal('unauthenticated-local'),
      subject: z.string().min(1).max(200).default('local-dev'),
    })
    .strict(),
  z
    .object({
      /** Every request carries a signed JWT from a trusted issuer. */
      mode: z.literal('jwt'),
      /** This gateway's canonical resource URI: tokens must name it in `aud`. Default: http://<host>:<port>/mcp. */
      resource: z.string().url().optional(),
      builtin: BuiltinIssuerSchema.optional(),
      issuers: z.array(IssuerSchema).default([]),
      clockSkewSeconds: z.number().int().min(0).max(60).default(60),
      /** Tokens whose `exp - iat` is longer are refused: short-lived credentials are the point. */
      maxTokenLifetimeSeconds: z
        .number()
        .int()
        .min(60)
        .max(7 * 86_400)
        .default(3_600),
      /** Scopes every request must carry (403 insufficient_scope otherwise). */
      requiredScopes: z.array(z.string().min(1)).default([]),
    })
    .strict()
    .superRefine((auth, ctx) => {
      if (!auth.builtin && auth.issuers.length === 0)
        ctx.addIssue({ code: 'custom', message: 'needs "builtin" or at least one entry in "issuers"' });
      const names = auth.issuers.map((i) => i.issuer);
      if (auth.builtin) names.push(auth.builtin.issuer);
      const dupe = names.find((n, i) => names.indexOf(n) !== i);
      if (dupe) ctx.addIssue({ code: 'custom', path: ['issuers'], message: `issuer ${dupe} is listed twice` });
    }),
]);

export const LoggingSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export const AuditSchema = z
  .object({
    /** `process-crash`: synchronous=NORMAL, nothing committed is lost when the gateway dies; `power-loss`: FULL, an fsync per commit. */
    durability: z.enum(['process-crash', 'power-loss']).default('process-crash'),
    /** Store each call's (scrubbed, size-capped) result, not only its size and digest. */
    captureResults: z.boolean().default(false),
    /** Arguments (after scrubbing) larger than this are stored truncated, with a marker; the digest covers them whole. */
    maxArgumentBytes: z.number().int().min(256).max(1_048_576).default(16_384),
    /** Cap for stored results when captureResults is on. */
    maxResultBytes: z.number().int().min(256).max(1_048_576).default(16_384),
    /** Sign a checkpoint every this many entries (and at start and shutdown). */
    checkpointEvery: z.number().int().min(1).max(1_000_000).default(1_000),
    /** How long a write waits for another process holding the database before the call is refused. */
    busyTimeoutMs: z.number().int().min(0).max(60_000).default(5_000),
    /** A size quota for the audit database; when reached, calls are refused (outcomes keep a small reserve). */
    maxDatabaseBytes: z.number().int().min(65_536).optional(),
  })
  .strict();

export const DEFAULT_CONSOLE_PORT = 8788;

/** The reviewer console's admin listener (served by `serve`; see docs/console.md). */
export const ConsoleSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Its own listener, loopback by default. */
    host: z.string().min(1).default('127.0.0.1'),
    /**
     * `0` picks a free port (the URL is written to <dataDir>/console.json). Unset: 8788
     * (DEFAULT_CONSOLE_PORT), or a free port when `serve --port 0` asks for one for the gateway.
     */
    port: z.number().int().min(0).max(65_535).optional(),
    /** Extra Host header values and browser Origins accepted (behind a reverse proxy). */
    allowedHosts: z.array(z.string().min(1)).default([]),
    allowedOrigins: z.array(z.string().min(1)).default([]),
    /** Lifetime of a one-time sign-in code from `mcp-warden console login`. */
    loginCodeTtlSeconds: z.number().int().min(10).max(900).default(120),
    /** Lifetime of a signed-in session. */
    sessionTtlSeconds: z
      .number()
      .int()
      .min(60)
      .max(86_400)
      .default(8 * 3_600),
    /** A call page links its trace id here (a tracing UI): an http(s) URL containing `{traceId}`. */
    traceUrl: z
      .string()
      .refine(
        (value) =>
          value.includes('{traceId}') &&
          /^https?:\/\/[^\s]+$/.test(value.replace('{traceId}', '0')) &&
          URL.canParse(value.replace('{traceId}', '0')),
        'must be an http(s) URL containing {traceId}',
      )
      .optional(),
  })
  .strict();

export const PolicyConfigSchema = z
  .object({
    /** Policy files (YAML or JSON), relative to the config file; together they are one policy. */
    files: z.array(z.string().min(1)).min(1),
    /** Reload the files when they change (a bad file keeps the last good policy in force). */
    watch: z.boolean().default(true),
  })
  .strict();

export const ConfigSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1),
    dataDir: z.string().min(1).default('./.warden'),
    /** Shared state and audit: SQLite files in dataDir (one machine), or PostgreSQL (several replicas). */
    store: StoreSchema.default({ kind: 'sqlite' }),
    gateway: GatewaySchema.default(GatewaySchema.parse({})),
    auth: AuthSchema.optional(),
    logging: LoggingSchema.default(LoggingSchema.parse({})),
    audit: AuditSchema.default(AuditSchema.parse({})),
    policy: PolicyConfigSchema.optional(),
    console: ConsoleSchema.default(ConsoleSchema.parse({})),
    metrics: MetricsSchema.default(MetricsSchema.parse({})),
    telemetry: TelemetrySchema.default(TelemetrySchema.parse({})),
    servers: z.record(
      z.string().regex(SERVER_ID_PATTERN, 'server ids must match ^[a-z0-9][a-z0-9-]{0,31}$'),
      ServerSchema,
    ),
    /** Named secrets: where each value comes from. Values never appear in this file. */
    secrets: SecretsSchema.default({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (
      config.metrics.enabled &&
      config.metrics.port === undefined &&
      !config.console.enabled &&
      !config.metrics.agentListener
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['metrics'],
        message:
          'needs a listener: set metrics.port, or enable the console (console.enabled), or metrics.agentListener',
      });
    }
    for (const [id, server] of Object.entries(config.servers)) {
      const use = server.secrets;
      if (!use) continue;
      const path = ['servers', id, 'secrets'];
      const perTool = Object.values(use.tools);
      const headers = [use.headers, ...perTool.map((t) => t.headers)];
      const named = [
        ...headers.flatMap((h) => Object.values(h).flatMap(templateNames)),
        ...[use.arguments, ...perTool.map((t) => t.arguments)].flatMap((a) => Object.values(a)),
        ...Object.values(use.env),
      ];
      for (const name of named) {
        if (!(name in config.secrets))
          ctx.addIssue({
            code: 'custom',
            path,
            message: `refers to secret "${name}", which is not defined under "secrets"`,
          });
      }
      if (headers.some((h) => Object.keys(h).length > 0) && server.transport === 'stdio')
        ctx.addIssue({ code: 'custom', path: [...path, 'headers'], message: 'headers are for http and sse servers' });
      if (Object.keys(use.env).length > 0 && server.transport !== 'stdio')
        ctx.addIssue({ code: 'custom', path: [...path, 'env'], message: 'env is for stdio servers' });
      for (const [header, template] of headers.flatMap((h) => Object.entries(h))) {
        if (templateNames(template).length === 0)
          ctx.addIssue({
            code: 'custom',
            path: [...path, 'headers', header],
            message: 'must contain {{secret:<name>}}',
          });
      }
    }
  });

export type Config = z.infer<typeof ConfigSchema>;
export type ServerConfig = z.infer<typeof ServerSchema>;
export type StdioServerConfig = z.infer<typeof StdioServerSchema>;
export type HttpServerConfig = z.infer<typeof HttpServerSchema>;
export type SseServerConfig = z.infer<typeof SseServerSchema>;
export type GatewayConfig = z.infer<typeof GatewaySchema>;
export type AuthConfig = z.infer<typeof AuthSchema>;
export type AuditConfig = z.infer<typeof AuditSchema>;
export type PolicyConfig = z.infer<typeof PolicyConfigSchema>;
export type ConsoleConfig = z.infer<typeof ConsoleSchema>;
export type JwtAuthConfig = Extract<AuthConfig, { mode: 'jwt' }>;
export type IssuerConfig = z.infer<typeof IssuerSchema>;
