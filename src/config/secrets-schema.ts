import { z } from 'zod';

const ENV_NAME = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
export const SECRET_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Where a secret's value comes from. No value is ever written in the config itself. */
export const SecretSourceSchema = z.discriminatedUnion('source', [
  z.object({ source: z.literal('env'), name: ENV_NAME }).strict(),
  z.object({ source: z.literal('file'), path: z.string().min(1) }).strict(),
  z
    .object({
      source: z.literal('exec'),
      /** argv, run without a shell; its trimmed stdout is the value. */
      command: z.array(z.string().min(1)).min(1),
      timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
      /** Cache the value for at most this long; 0 runs the helper on every call. */
      ttlSeconds: z.number().int().min(0).max(86_400).default(0),
    })
    .strict(),
  z
    .object({
      source: z.literal('minted'),
      /** `aud` of the minted JWT: the downstream that verifies it. */
      audience: z.string().min(1).max(500),
      ttlSeconds: z.number().int().min(1).max(300).default(60),
    })
    .strict(),
]);

const HEADERS = z
  .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name'), z.string().min(1))
  .default({});
const ARGUMENTS = z.record(z.string().min(1).max(128), z.string().regex(SECRET_NAME_PATTERN)).default({});

/** Secrets for one tool's calls only, on top of the server's (the tool's win where both name a header or argument). */
export const ToolSecretsSchema = z.object({ headers: HEADERS, arguments: ARGUMENTS }).strict();

/** How a server's calls carry secrets: `{{secret:name}}` templates for headers, names for arguments and env. */
export const ServerSecretsSchema = z
  .object({
    /** HTTP and SSE: headers set on each call's request, e.g. `"Authorization": "Bearer {{secret:tickets}}"`. */
    headers: z
      .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be an HTTP header name'), z.string().min(1))
      .default({}),
    /** Tool arguments filled in by the gateway: hidden from the agent, and refused when the agent supplies them. */
    arguments: z.record(z.string().min(1).max(128), z.string().regex(SECRET_NAME_PATTERN)).default({}),
    /** stdio: environment variables holding secrets. */
    env: z.record(ENV_NAME, z.string().regex(SECRET_NAME_PATTERN)).default({}),
    /** `spawn`: set when the process starts (weaker: it lives as long as the process); `per-call`: a fresh process per call, stopped after it. */
    envMode: z.enum(['spawn', 'per-call']).default('spawn'),
    /** Per tool (the downstream's own name): headers and arguments for that tool's calls only. */
    tools: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be a downstream tool name'), ToolSecretsSchema)
      .default({}),
  })
  .strict();

/** Header templates and injected arguments for one call: the server's, overlaid by the tool's when it has its own. */
export function secretsForCall(
  use: ServerSecrets,
  tool: string | undefined,
): { headers: Record<string, string>; arguments: Record<string, string> } {
  // Own keys only: a downstream tool may be called `constructor` or `toString` (valid tool names), and the
  // record's prototype must not stand in for a tool's secrets (its functions' `arguments` throw).
  const own = tool === undefined || !Object.hasOwn(use.tools, tool) ? undefined : use.tools[tool];
  return { headers: { ...use.headers, ...own?.headers }, arguments: { ...use.arguments, ...own?.arguments } };
}

export const SecretsSchema = z.record(
  z.string().regex(SECRET_NAME_PATTERN, 'secret names must match ^[a-z0-9][a-z0-9_-]{0,63}$'),
  SecretSourceSchema,
);

export type SecretSource = z.infer<typeof SecretSourceSchema>;
export type ServerSecrets = z.infer<typeof ServerSecretsSchema>;

const TEMPLATE = /\{\{secret:([a-z0-9][a-z0-9_-]{0,63})\}\}/g;

/** The secret names a header template refers to. */
export function templateNames(template: string): string[] {
  return [...template.matchAll(TEMPLATE)].map((m) => m[1]!);
}

/** Fills a header template with resolved values. */
export function fillTemplate(template: string, values: ReadonlyMap<string, string>): string {
  return template.replace(TEMPLATE, (_m, name: string) => values.get(name) ?? '');
}
