import { dirname, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import type { Principal } from '../model/principal.js';
import { NAMESPACE_SEPARATOR } from '../model/catalog.js';
import type { AuthorizeRequest } from '../pipeline/stages.js';
import type { CompiledPolicy } from './compile.js';
import { evaluate, type Evaluation, type EvaluationRequest } from './evaluate.js';
import { loadPolicy, parseStructured, readText, validate, type PolicyFileRef } from './load.js';

export const BUILTIN_ISSUER = 'urn:mcp-warden:builtin';
/** Tests run at a fixed instant unless they name one, so results never depend on the clock. */
export const DEFAULT_TEST_NOW = Date.parse('2025-01-01T00:00:00Z');

export const PrincipalSpecSchema = z
  .object({
    subject: z.string().min(1),
    issuer: z.string().min(1).default(BUILTIN_ISSUER),
    client: z.string().optional(),
    tenant: z.string().optional(),
    authMethod: z.enum(['jwt', 'unauthenticated-local']).default('jwt'),
    scopes: z.array(z.string()).default([]),
    claims: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
  })
  .strict();

export const TaskSpecSchema = z
  .object({
    id: z.string().min(1).default('test-task'),
    purpose: z.string().optional(),
    /** Globs the task narrows to; absent: a task that does not narrow. */
    grants: z.array(z.string().min(1)).optional(),
    /** Relative to the test's instant; negative: already expired. */
    expiresInSeconds: z.number().optional(),
  })
  .strict();

const CallSpecSchema = z
  .object({
    tool: z.string().min(1).optional(),
    prompt: z.string().min(1).optional(),
    resource: z.string().min(1).optional(),
    arguments: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .refine((c) => [c.tool, c.prompt, c.resource].filter((v) => v !== undefined).length === 1, {
    message: 'name exactly one of tool, prompt, resource',
  });

const ExpectSchema = z.union([
  z.enum(['allow', 'deny']),
  z
    .object({
      effect: z.enum(['allow', 'deny']),
      rule: z.string().optional(),
      approval: z.enum(['required', 'none']).optional(),
    })
    .strict(),
]);

const TestSchema = z
  .object({
    name: z.string().min(1),
    principal: PrincipalSpecSchema,
    task: TaskSpecSchema.optional(),
    call: CallSpecSchema,
    /** Decide visibility in a list instead of a call (arguments are not checked). */
    list: z.boolean().default(false),
    now: z.iso.datetime({ offset: true }).optional(),
    expect: ExpectSchema,
  })
  .strict();

export const PolicyTestFileSchema = z
  .object({
    /** The policy file(s) under test, relative to this file. */
    policy: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    tests: z.array(TestSchema).min(1),
  })
  .strict();

export type PrincipalSpec = z.input<typeof PrincipalSpecSchema>;
export type TaskSpec = z.input<typeof TaskSpecSchema>;
type PolicyTest = z.infer<typeof TestSchema>;

export interface TestResult {
  name: string;
  passed: boolean;
  expected: string;
  actual: string;
}

export interface TestFileResult {
  file: string;
  policyVersion: string;
  results: TestResult[];
}

/** Runs one test file: loads the policy it names and checks every case against the pure evaluator. */
export function runPolicyTestFile(file: PolicyFileRef): TestFileResult {
  const spec = validate(PolicyTestFileSchema, parseStructured(readText(file), file.label), file.label);
  const names = Array.isArray(spec.policy) ? spec.policy : [spec.policy];
  const base = dirname(file.path);
  const policy = loadPolicy(
    names.map((name) => ({ path: resolve(base, name), label: join(dirname(file.label), name) })),
  );
  return { file: file.label, policyVersion: policy.version, results: spec.tests.map((test) => runOne(policy, test)) };
}

function runOne(policy: CompiledPolicy, test: PolicyTest): TestResult {
  const now = test.now ? Date.parse(test.now) : DEFAULT_TEST_NOW;
  const evaluation = evaluate(policy, requestFor(test, now), now);
  const expected = typeof test.expect === 'string' ? { effect: test.expect } : test.expect;
  const passed =
    evaluation.effect === expected.effect &&
    (expected.rule === undefined || evaluation.rule === expected.rule) &&
    (expected.approval === undefined || evaluation.approval === (expected.approval === 'required'));
  return {
    name: test.name,
    passed,
    expected: [
      expected.effect,
      expected.rule && `rule ${expected.rule}`,
      expected.approval && `approval ${expected.approval}`,
    ]
      .filter(Boolean)
      .join(', '),
    actual: describeEvaluation(evaluation),
  };
}

export function describeEvaluation(evaluation: Evaluation): string {
  return `${evaluation.effect}, rule ${evaluation.rule}${evaluation.approval ? ', approval required' : ''} (${evaluation.reason})`;
}

function requestFor(test: PolicyTest, now: number): EvaluationRequest {
  const principal = principalFrom(test.principal, test.task, now);
  const call = test.call;
  const args = call.arguments;
  if (call.tool !== undefined) return request(principal, test.list ? 'tools/list' : 'tools/call', call.tool, args);
  if (call.prompt !== undefined)
    return request(principal, test.list ? 'prompts/list' : 'prompts/get', call.prompt, args);
  return request(principal, test.list ? 'resources/list' : 'resources/read', call.resource!, undefined);
}

export function request(
  principal: Principal,
  method: AuthorizeRequest['method'],
  target: string,
  args: Record<string, unknown> | undefined,
): EvaluationRequest {
  const separator = target.indexOf(NAMESPACE_SEPARATOR);
  const server = method.startsWith('resources/') || separator === -1 ? '' : target.slice(0, separator);
  return { principal, method, server, target, ...(args !== undefined && { arguments: args }) };
}

/** A principal as a test or `policy explain` describes it. */
export function principalFrom(input: PrincipalSpec, taskInput: TaskSpec | undefined, now: number): Principal {
  const spec = PrincipalSpecSchema.parse(input);
  const task = taskInput === undefined ? undefined : TaskSpecSchema.parse(taskInput);
  return {
    subject: spec.subject,
    issuer: spec.issuer,
    authMethod: spec.authMethod,
    scopes: spec.scopes,
    delegation: [],
    ...(spec.client !== undefined && { clientId: spec.client }),
    ...(spec.tenant !== undefined && { tenant: spec.tenant }),
    ...(spec.claims !== undefined && { claims: spec.claims }),
    ...(task && {
      task: {
        id: task.id,
        ...(task.purpose !== undefined && { purpose: task.purpose }),
        ...(task.grants !== undefined && { grants: task.grants }),
        ...(task.expiresInSeconds !== undefined && { expiresAt: now + task.expiresInSeconds * 1000 }),
      },
    }),
  };
}

/** A label for a path as the user would write it (relative to the working directory when inside it). */
export function labelFor(path: string, cwd = process.cwd()): string {
  const rel = relative(cwd, path);
  return rel.startsWith('..') ? path : rel;
}
