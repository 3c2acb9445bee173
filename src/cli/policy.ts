import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadConfig } from '../config/load.js';
import { isWardenError } from '../errors.js';
import { compilePolicy, type PolicySource } from '../policy/compile.js';
import { explain, formatExplanation } from '../policy/explain.js';
import { readPolicyFile, type PolicyFileRef } from '../policy/load.js';
import { policyFiles } from '../policy/setup.js';
import {
  DEFAULT_TEST_NOW,
  labelFor,
  principalFrom,
  request,
  runPolicyTestFile,
  type PrincipalSpec,
} from '../policy/tests.js';
import { EXIT, UsageError, type CommandContext } from './common.js';
import { replayCommand, type ReplayFlags } from './replay.js';

export interface ExplainFlags extends ReplayFlags {
  sub?: string;
  issuer?: string;
  client?: string;
  tenant?: string;
  'auth-method'?: string;
  scope?: string[];
  claim?: string[];
  task?: string[];
  'in-task'?: boolean;
  tool?: string;
  prompt?: string;
  resource?: string;
  args?: string;
  list?: boolean;
  policy?: string[];
  json?: boolean;
}

/** `mcp-warden policy check|explain|test`. */
export async function runPolicy(ctx: CommandContext, positionals: string[], flags: ExplainFlags): Promise<number> {
  const [sub, ...files] = positionals;
  switch (sub) {
    case 'check':
      return check(resolveFiles(ctx, files));
    case 'explain':
      if (files.length > 0) throw new UsageError('policy explain takes no positional arguments (use --policy FILE)');
      return explainCommand(resolveFiles(ctx, flags.policy ?? []), flags);
    case 'test':
      return test(ctx, files);
    case 'replay':
      if (files.length > 0) throw new UsageError('policy replay takes no positional arguments (use --policy FILE)');
      return replayCommand(ctx, flags);
    default:
      throw new UsageError(
        'usage: mcp-warden policy check [FILE...] | explain --sub S --tool T [...] | test [FILE...] | replay --policy FILE [...]',
      );
  }
}

/** Files named on the command line (relative to the working directory), else the config's policy files. */
function resolveFiles(ctx: CommandContext, files: readonly string[]): PolicyFileRef[] {
  if (files.length > 0) return files.map((file) => ({ path: resolve(file), label: labelFor(resolve(file)) }));
  const loaded = loadConfig(ctx.configPath, { dataDirOverride: ctx.dataDir });
  const configured = policyFiles(loaded);
  if (configured.length === 0)
    throw new UsageError(`${loaded.file} configures no policy ("policy": {"files": [...]}); name policy files instead`);
  return configured.map((file) => ({ path: file.path, label: labelFor(file.path) }));
}

/** Validates every file (reporting each bad one), then the files together as one policy. */
function check(files: readonly PolicyFileRef[]): number {
  const result = checkPolicyFiles(files);
  if (result.errors.length > 0) {
    process.stderr.write(`${result.errors.join('\n')}\n`);
    return EXIT.usage;
  }
  for (const file of files) process.stdout.write(`${file.label}: valid\n`);
  process.stdout.write(`${result.summary}\n`);
  return EXIT.ok;
}

/**
 * What `policy check` checks, for it and for `config check`: each file on its own (every bad one is
 * reported), then all of them together as one policy. `summary` when there is no error.
 */
export function checkPolicyFiles(files: readonly PolicyFileRef[]): { errors: string[]; summary?: string } {
  const sources: PolicySource[] = [];
  const errors: string[] = [];
  for (const file of files) {
    try {
      sources.push(readPolicyFile(file));
    } catch (error) {
      if (!isWardenError(error)) throw error;
      errors.push(error.message);
    }
  }
  if (errors.length > 0) return { errors };
  try {
    const policy = compilePolicy(sources);
    return {
      errors,
      summary: `policy ${policy.version}: ${policy.ruleCount} rules, ${policy.agents.length} agent entries, ${files.length} file${files.length === 1 ? '' : 's'}`,
    };
  } catch (error) {
    if (!isWardenError(error)) throw error;
    return { errors: [error.message] };
  }
}

function explainCommand(files: readonly PolicyFileRef[], flags: ExplainFlags): number {
  if (!flags.sub) throw new UsageError('--sub SUBJECT is required');
  const targets = [flags.tool, flags.prompt, flags.resource].filter((t) => t !== undefined);
  if (targets.length !== 1) throw new UsageError('name exactly one of --tool, --prompt, --resource');
  let args: Record<string, unknown> | undefined;
  if (flags.args !== undefined) {
    try {
      args = JSON.parse(flags.args) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`--args must be JSON: ${(error as Error).message}`);
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args))
      throw new UsageError('--args must be a JSON object');
  }
  const authMethod = flags['auth-method'] ?? 'jwt';
  if (authMethod !== 'jwt' && authMethod !== 'unauthenticated-local')
    throw new UsageError('--auth-method must be jwt or unauthenticated-local');
  const spec: PrincipalSpec = {
    subject: flags.sub,
    authMethod,
    scopes: flags.scope ?? [],
    ...(flags.issuer !== undefined && { issuer: flags.issuer }),
    ...(flags.client !== undefined && { client: flags.client }),
    ...(flags.tenant !== undefined && { tenant: flags.tenant }),
    ...(flags.claim && { claims: parseClaims(flags.claim) }),
  };
  const inTask = flags.task !== undefined || flags['in-task'] === true;
  const now = Date.now();
  const principal = principalFrom(
    spec,
    inTask ? { id: 'explain', ...(flags.task && { grants: flags.task }) } : undefined,
    now,
  );
  const policy = compilePolicy(files.map((file) => readPolicyFile(file)));
  const list = flags.list === true;
  const req =
    flags.tool !== undefined
      ? request(principal, list ? 'tools/list' : 'tools/call', flags.tool, args)
      : flags.prompt !== undefined
        ? request(principal, list ? 'prompts/list' : 'prompts/get', flags.prompt, args)
        : request(principal, list ? 'resources/list' : 'resources/read', flags.resource!, undefined);
  const explanation = explain(policy, req, now);
  if (flags.json)
    process.stdout.write(`${JSON.stringify({ policyVersion: policy.version, ...explanation }, null, 2)}\n`);
  else process.stdout.write(`${formatExplanation(policy, req, explanation).join('\n')}\n`);
  return EXIT.ok;
}

function parseClaims(pairs: readonly string[]): Record<string, string> {
  const claims: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--claim must be NAME=VALUE, got "${pair}"`);
    claims[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return claims;
}

/** Runs test files: those named, else every `*.test.yaml|yml|json` beside the configured policy files. */
function test(ctx: CommandContext, files: readonly string[]): number {
  const refs =
    files.length > 0
      ? files.map((file) => ({ path: resolve(file), label: labelFor(resolve(file)) }))
      : discoverTests(ctx);
  if (refs.length === 0)
    throw new UsageError('no policy test files found (name them, or put *.test.yaml beside the policy files)');
  let failed = 0;
  let passed = 0;
  for (const ref of refs) {
    const result = runPolicyTestFile(ref);
    process.stdout.write(`${result.file} (policy ${result.policyVersion})\n`);
    for (const test of result.results) {
      if (test.passed) {
        passed += 1;
        process.stdout.write(`  ✓ ${test.name}\n`);
      } else {
        failed += 1;
        process.stdout.write(`  ✗ ${test.name}\n      expected: ${test.expected}\n      actual:   ${test.actual}\n`);
      }
    }
  }
  process.stdout.write(
    `${passed} passed, ${failed} failed (evaluated at ${new Date(DEFAULT_TEST_NOW).toISOString()} unless a test sets "now")\n`,
  );
  return failed > 0 ? EXIT.failure : EXIT.ok;
}

function discoverTests(ctx: CommandContext): PolicyFileRef[] {
  const dirs = new Set(resolveFiles(ctx, []).map((file) => dirname(file.path)));
  const found: PolicyFileRef[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      if (/\.test\.(ya?ml|json)$/.test(name)) found.push({ path: join(dir, name), label: labelFor(join(dir, name)) });
    }
  }
  return found;
}
