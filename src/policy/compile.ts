import { createHash } from 'node:crypto';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv';
import { WardenError } from '../errors.js';
import type { Principal } from '../model/principal.js';
import { GlobSet, compileGlob, globMatcher, isLiteral, type Matcher } from '../model/glob.js';
import {
  DEFAULT_TASK_SETTINGS,
  type GrantSpec,
  type MatchSpec,
  type PolicyFile,
  type RateLimit,
  type ReviewerSpec,
  type TaskSettings,
} from './schema.js';

export type TargetKind = 'tool' | 'prompt' | 'resource';
export const TARGET_KINDS: readonly TargetKind[] = ['tool', 'prompt', 'resource'];

/** A validated policy file and the label its errors and rule ids use. */
export interface PolicySource {
  label: string;
  data: PolicyFile;
}

export interface ArgumentCheck {
  (args: unknown): boolean;
  /** Why the last call returned false (for explanations). */
  errors(): string;
}

export interface CompiledGrant {
  /** The grant's `id`, else where it is written (`default.yaml#roles.reader.grants[0]`). */
  ruleId: string;
  /** File and path, for explanations. */
  source: string;
  /** Declaration order across all files: the first matching rule of an effect is the one reported. */
  order: number;
  effect: 'allow' | 'deny';
  targets: Record<TargetKind, GlobSet | undefined>;
  checkArguments?: ArgumentCheck;
  approval: boolean;
  rateLimit?: RateLimit;
  taskOnly: boolean;
}

export interface CompiledAgent {
  id: string;
  source: string;
  roles: readonly string[];
  requireTask: boolean;
  matches(principal: Principal): boolean;
}

/** One grant reachable through one owner: an agent entry (its own grants and its roles') or every agent (-1). */
export interface IndexEntry {
  grant: CompiledGrant;
  owner: number;
  /** The role it came through, for explanations. */
  role?: string;
  /** `rule (agent a, role r)`: for reasons, built once. */
  label: string;
}

export interface KindIndex {
  exact: Map<string, IndexEntry[]>;
  wildcard: { matches: Matcher; entry: IndexEntry; glob: string }[];
}

export interface CompiledPolicy {
  /** Short SHA-256 over every file's parsed content: names the policy in force in every decision. */
  version: string;
  files: readonly string[];
  tasks: TaskSettings;
  agents: readonly CompiledAgent[];
  index: Record<TargetKind, KindIndex>;
  /** Every (grant, owner) pair in declaration order, for explanations and counts. */
  entries: readonly IndexEntry[];
  ruleCount: number;
  /** Who may sign in to the reviewer console, from every file's `reviewers`. */
  reviewers: readonly ReviewerSpec[];
}

/**
 * Compiles validated policy files into lookup structures: globs become regular expressions (exact names
 * a map), argument schemas are compiled once with a real JSON Schema validator, role references are
 * resolved. Anything wrong fails the whole load with the file and the path.
 */
export function compilePolicy(sources: readonly PolicySource[]): CompiledPolicy {
  // Made for the first grant with `arguments`: a policy without argument constraints makes none.
  let ajvInstance: Ajv2020 | undefined;
  const ajv = (): Ajv2020 =>
    (ajvInstance ??= new Ajv2020({
      strictSchema: true,
      strictNumbers: true,
      strictTypes: false,
      strictTuples: false,
      strictRequired: false,
      allErrors: false,
      logger: false,
    }));
  const ids = new Map<string, string>();
  let order = 0;

  const compileGrant = (spec: GrantSpec, label: string, path: string): CompiledGrant => {
    const source = `${label}#${path}`;
    if (spec.id !== undefined) {
      const seen = ids.get(spec.id);
      if (seen !== undefined) throw invalid(label, `${path}.id`, `rule id "${spec.id}" is already used at ${seen}`);
      ids.set(spec.id, source);
    }
    const grant: CompiledGrant = {
      ruleId: spec.id ?? source,
      source,
      order: order++,
      effect: spec.effect,
      targets: {
        tool: spec.tools && new GlobSet(spec.tools),
        prompt: spec.prompts && new GlobSet(spec.prompts),
        resource: spec.resources && new GlobSet(spec.resources),
      },
      approval: spec.approval === 'required',
      taskOnly: spec.task === 'required',
      ...(spec.rateLimit && { rateLimit: spec.rateLimit }),
    };
    if (spec.arguments !== undefined)
      grant.checkArguments = compileArguments(ajv(), spec.arguments, label, `${path}.arguments`);
    return grant;
  };

  const roles = new Map<string, { label: string; grants: CompiledGrant[] }>();
  const globals: CompiledGrant[] = [];
  let tasks: { label: string; settings: TaskSettings } | undefined;
  for (const { label, data } of sources) {
    if (data.tasks) {
      if (tasks)
        throw invalid(label, 'tasks', `task settings are already given in ${tasks.label}; keep them in one file`);
      tasks = { label, settings: data.tasks };
    }
    for (const [name, role] of Object.entries(data.roles)) {
      const other = roles.get(name);
      if (other) throw invalid(label, `roles.${name}`, `role "${name}" is already defined in ${other.label}`);
      roles.set(name, {
        label,
        grants: role.grants.map((g, i) => compileGrant(g, label, `roles.${name}.grants[${i}]`)),
      });
    }
    data.grants.forEach((g, i) => globals.push(compileGrant(g, label, `grants[${i}]`)));
  }

  const agents: CompiledAgent[] = [];
  const entries: IndexEntry[] = globals.map((grant) => ({ grant, owner: -1, label: `${grant.ruleId} (every agent)` }));
  const agentIds = new Map<string, string>();
  for (const { label, data } of sources) {
    data.agents.forEach((spec, i) => {
      const path = `agents[${i}]`;
      const seen = agentIds.get(spec.id);
      if (seen !== undefined) throw invalid(label, `${path}.id`, `agent id "${spec.id}" is already used at ${seen}`);
      agentIds.set(spec.id, `${label}#${path}`);
      const owner = agents.length;
      spec.roles.forEach((name, r) => {
        const role = roles.get(name);
        if (!role) throw invalid(label, `${path}.roles[${r}]`, `unknown role "${name}"`);
        for (const grant of role.grants)
          entries.push({ grant, owner, role: name, label: `${grant.ruleId} (agent ${spec.id}, role ${name})` });
      });
      spec.grants.forEach((g, j) => {
        const grant = compileGrant(g, label, `${path}.grants[${j}]`);
        entries.push({ grant, owner, label: `${grant.ruleId} (agent ${spec.id})` });
      });
      agents.push({
        id: spec.id,
        source: `${label}#${path}`,
        roles: spec.roles,
        requireTask: spec.requireTask,
        matches: compileMatch(spec.match),
      });
    });
  }
  entries.sort((a, b) => a.grant.order - b.grant.order || a.owner - b.owner);

  const index = { tool: emptyIndex(), prompt: emptyIndex(), resource: emptyIndex() };
  for (const entry of entries) {
    for (const kind of TARGET_KINDS) {
      const globs = entry.grant.targets[kind]?.globs ?? [];
      for (const glob of globs) {
        if (isLiteral(glob)) {
          const list = index[kind].exact.get(glob) ?? [];
          list.push(entry);
          index[kind].exact.set(glob, list);
        } else {
          index[kind].wildcard.push({ matches: globMatcher(glob), entry, glob });
        }
      }
    }
  }
  return {
    version: versionOf(sources),
    files: sources.map((s) => s.label),
    tasks: tasks?.settings ?? DEFAULT_TASK_SETTINGS,
    agents,
    index,
    entries,
    ruleCount: order,
    reviewers: sources.flatMap((s) => s.data.reviewers ?? []),
  };
}

function emptyIndex(): KindIndex {
  return { exact: new Map(), wildcard: [] };
}

function compileArguments(ajv: Ajv2020, schema: Record<string, unknown>, label: string, path: string): ArgumentCheck {
  let validate: ReturnType<Ajv2020['compile']>;
  try {
    validate = ajv.compile(schema);
  } catch (error) {
    throw invalid(label, path, `not a valid JSON Schema: ${(error as Error).message}`);
  }
  const check = ((args: unknown) => validate(args) === true) as ArgumentCheck;
  check.errors = () => describeErrors(validate.errors);
  return check;
}

function describeErrors(errors: readonly ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'does not match';
  return errors.map((e) => `${e.instancePath || '(arguments)'} ${e.message ?? 'is invalid'}`).join('; ');
}

function compileMatch(spec: MatchSpec): (principal: Principal) => boolean {
  const checks: ((p: Principal) => boolean)[] = [];
  const field = (glob: string | undefined, pick: (p: Principal) => string | undefined) => {
    if (glob === undefined) return;
    const regex = compileGlob(glob);
    checks.push((p) => {
      const value = pick(p);
      return value !== undefined && regex.test(value);
    });
  };
  field(spec.subject, (p) => p.subject);
  field(spec.issuer, (p) => p.issuer);
  field(spec.client, (p) => p.clientId);
  field(spec.tenant, (p) => p.tenant);
  if (spec.authMethod !== undefined) checks.push((p) => p.authMethod === spec.authMethod);
  if (spec.scopes !== undefined) {
    const scopes = spec.scopes;
    checks.push((p) => scopes.every((s) => p.scopes.includes(s)));
  }
  for (const [name, glob] of Object.entries(spec.claims ?? {})) {
    const regex = compileGlob(glob);
    checks.push((p) => {
      const value = p.claims && Object.hasOwn(p.claims, name) ? p.claims[name] : undefined;
      if (typeof value === 'string') return regex.test(value);
      return Array.isArray(value) && value.some((v: string) => regex.test(v));
    });
  }
  return (principal) => checks.every((check) => check(principal));
}

function versionOf(sources: readonly PolicySource[]): string {
  // The content alone: the same policy has the same version wherever its files live.
  const canonical = JSON.stringify(sources.map((s) => sortKeys(s.data)));
  return createHash('sha256').update(canonical).digest('hex').slice(0, 12);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
}

export function invalid(label: string, path: string, message: string): WardenError {
  return new WardenError('ERR_POLICY_INVALID', `${label}: ${path}: ${message}`);
}
