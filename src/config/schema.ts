import { z } from 'zod';

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
  /** Namespace prefix for tools and prompts: `<prefix>__<name>`. Defaults to the id; `false` switches it off. */
  prefix: z.union([z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/, 'must be 1-32 letters, digits or dashes'), z.literal(false)]).optional(),
  /** One pooled connection for every agent session instead of one per session. */
  shared: z.boolean().default(false),
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
    maxBodyBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
    maxJsonDepth: z.number().int().min(4).max(1000).default(64),
    sessionIdleSeconds: z.number().int().min(5).max(86_400).default(900),
    maxSessions: z.number().int().min(1).max(100_000).default(2000),
    listPageSize: z.number().int().min(1).max(10_000).default(500),
    defaultTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
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
]);

export const LoggingSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export const ConfigSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1),
    dataDir: z.string().min(1).default('./.warden'),
    gateway: GatewaySchema.default(GatewaySchema.parse({})),
    auth: AuthSchema.optional(),
    logging: LoggingSchema.default(LoggingSchema.parse({})),
    servers: z.record(z.string().regex(SERVER_ID_PATTERN, 'server ids must match ^[a-z0-9][a-z0-9-]{0,31}$'), ServerSchema),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type ServerConfig = z.infer<typeof ServerSchema>;
export type StdioServerConfig = z.infer<typeof StdioServerSchema>;
export type HttpServerConfig = z.infer<typeof HttpServerSchema>;
export type SseServerConfig = z.infer<typeof SseServerSchema>;
export type GatewayConfig = z.infer<typeof GatewaySchema>;
export type AuthConfig = z.infer<typeof AuthSchema>;
