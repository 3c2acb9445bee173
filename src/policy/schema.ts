import { z } from 'zod';

/** Rule ids name grants in decisions and the audit record: short, stable, no spaces. */
export const RULE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const ROLE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const CLAIM_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;

/** A glob over namespaced tool or prompt names, or resource URIs: `*` matches any run of characters. */
const TargetGlobSchema = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (`*` matches any run of characters)');

/** A glob over a principal attribute (subject, issuer, …). */
const ValueGlobSchema = z.string().min(1).max(512);

export const RateLimitSchema = z
  .object({
    /** Calls allowed per window, per principal and tool (a token bucket: bursts up to `calls`). */
    calls: z.number().int().min(1).max(1_000_000),
    perSeconds: z.number().int().min(1).max(86_400),
  })
  .strict();

export const GrantSchema = z
  .object({
    id: z
      .string()
      .regex(RULE_ID_PATTERN, 'must be 1-64 letters, digits or _ . : - (starting with a letter or digit)')
      .optional(),
    description: z.string().max(500).optional(),
    effect: z.enum(['allow', 'deny']),
    tools: z.array(TargetGlobSchema).min(1).optional(),
    prompts: z.array(TargetGlobSchema).min(1).optional(),
    resources: z.array(TargetGlobSchema).min(1).optional(),
    /**
     * JSON Schema (2020-12) the call's arguments are checked against. On `allow`: the grant applies only
     * when the arguments validate. On `deny`: the grant applies when they validate (the schema describes
     * what is forbidden).
     */
    arguments: z.record(z.string(), z.unknown()).optional(),
    /** Each call needs a person's approval of that exact call (src/integrity/approver.ts). */
    approval: z.literal('required').optional(),
    rateLimit: RateLimitSchema.optional(),
    /** The grant applies only while the session has a task (from the token or `warden__begin_task`). */
    task: z.literal('required').optional(),
  })
  .strict()
  .superRefine((grant, ctx) => {
    if (!grant.tools && !grant.prompts && !grant.resources) {
      ctx.addIssue({ code: 'custom', message: 'a grant needs at least one of tools, prompts, resources' });
    }
    if (grant.effect === 'deny') {
      for (const field of ['approval', 'rateLimit', 'task'] as const) {
        if (grant[field] !== undefined)
          ctx.addIssue({ code: 'custom', path: [field], message: `only an allow grant can have ${field}` });
      }
    }
    if (grant.arguments !== undefined && grant.resources !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['arguments'],
        message: 'resources have no arguments; put argument constraints in a grant for tools or prompts',
      });
    }
  });

export const MatchSchema = z
  .object({
    subject: ValueGlobSchema.optional(),
    issuer: ValueGlobSchema.optional(),
    client: ValueGlobSchema.optional(),
    tenant: ValueGlobSchema.optional(),
    authMethod: z.enum(['jwt', 'unauthenticated-local']).optional(),
    /** Every listed scope must be present. */
    scopes: z.array(z.string().min(1).max(200)).optional(),
    /** Extra token claims: a string claim must match the glob; an array claim must have an element that does. */
    claims: z.record(z.string().regex(CLAIM_NAME_PATTERN, 'must be a claim name'), ValueGlobSchema).optional(),
  })
  .strict();

export const AgentSchema = z
  .object({
    id: z.string().regex(RULE_ID_PATTERN, 'must be 1-64 letters, digits or _ . : - (starting with a letter or digit)'),
    description: z.string().max(500).optional(),
    /** Every field given must match; `{}` matches every authenticated agent. */
    match: MatchSchema,
    roles: z.array(z.string().regex(ROLE_NAME_PATTERN, 'must be a role name')).default([]),
    grants: z.array(GrantSchema).default([]),
    /** Until a task is declared, only the task meta-tools are visible. */
    requireTask: z.boolean().default(false),
  })
  .strict();

export const RoleSchema = z
  .object({
    description: z.string().max(500).optional(),
    grants: z.array(GrantSchema).min(1),
  })
  .strict();

export const TaskSettingsSchema = z
  .object({
    /** Lifetime of a task declared with `warden__begin_task` when it names none. */
    defaultTtlSeconds: z.number().int().min(10).max(86_400).default(900),
    /** Longest lifetime a declared task may ask for (longer requests are shortened to this). */
    maxTtlSeconds: z.number().int().min(10).max(86_400).default(3_600),
  })
  .strict()
  .refine((t) => t.defaultTtlSeconds <= t.maxTtlSeconds, {
    message: 'defaultTtlSeconds must not exceed maxTtlSeconds',
    path: ['defaultTtlSeconds'],
  });

/** A person who may sign in to the reviewer console (`mcp-warden console login --sub SUBJECT`). */
export const ReviewerSchema = z
  .object({
    /** The reviewer's subject, exactly (no globs: sign-in rights are named one by one). */
    subject: z.string().min(1).max(200),
    /** When given, only this issuer's subject of that name. */
    issuer: z.string().min(1).max(500).optional(),
    description: z.string().max(500).optional(),
  })
  .strict();

export const PolicyFileSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1, { error: 'must be 1' }),
    description: z.string().max(2_000).optional(),
    tasks: TaskSettingsSchema.optional(),
    roles: z
      .record(z.string().regex(ROLE_NAME_PATTERN, 'role names must be 1-64 letters, digits or _ . -'), RoleSchema)
      .default({}),
    agents: z.array(AgentSchema).default([]),
    /** Grants for every agent (typically the denies that nothing may override). */
    grants: z.array(GrantSchema).default([]),
    /** Who may sign in to the reviewer console and decide there (see docs/console.md). */
    reviewers: z.array(ReviewerSchema).default([]),
  })
  .strict();

export type RateLimit = z.infer<typeof RateLimitSchema>;
export type GrantSpec = z.infer<typeof GrantSchema>;
export type MatchSpec = z.infer<typeof MatchSchema>;
export type AgentSpec = z.infer<typeof AgentSchema>;
export type RoleSpec = z.infer<typeof RoleSchema>;
export type TaskSettings = z.infer<typeof TaskSettingsSchema>;
export type PolicyFile = z.infer<typeof PolicyFileSchema>;
export type ReviewerSpec = z.infer<typeof ReviewerSchema>;

export const DEFAULT_TASK_SETTINGS: TaskSettings = { defaultTtlSeconds: 900, maxTtlSeconds: 3_600 };
