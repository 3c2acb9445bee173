import { createHmac } from 'node:crypto';
import {
  fillTemplate,
  secretsForCall,
  templateNames,
  type SecretSource,
  type ServerSecrets,
} from '../config/secrets-schema.js';
import type { CallContext } from '../pipeline/context.js';
import { deny, ok, type Outcome } from '../pipeline/denial.js';
import type { EgressValues, Injection, SecretInjector } from '../pipeline/stages.js';
import { SecretUnavailable, type MintClaims, type SecretSources } from './sources.js';
import { reveal } from './value.js';

export interface InjectorOptions {
  secrets: Readonly<Record<string, SecretSource>>;
  /** Per server id: how its calls carry secrets. */
  servers: Readonly<Record<string, ServerSecrets | undefined>>;
  sources: SecretSources;
  /** Key of the audit fingerprint (HMAC-SHA-256): the record can tell two uses of one value apart from two values, nothing more. */
  fingerprintKey: Buffer;
  /** The egress stage: told every value as it is resolved, before it leaves. */
  egress: EgressValues;
  /** `sub` of credentials minted outside a call. */
  gatewaySubject?: string;
}

/**
 * What the calls of one server (or of one tool with its own secrets) carry, read from the configuration
 * once instead of per call: headers with the names their templates use (and the minted one, whose
 * filled header is remembered as a prefix), injected arguments, per-call environment, and every name in
 * the order it is resolved.
 */
interface CallPlan {
  headers: { header: string; template: string; minted: string | undefined }[];
  arguments: [argument: string, name: string][];
  env: [variable: string, name: string][];
  names: ReadonlySet<string>;
}

/**
 * Resolves a server's secrets for one allowed call and says where they go. The raw value is read here
 * (and nowhere else on the way out); the egress stage is told every value before it leaves.
 */
export class ConfiguredSecrets implements SecretInjector {
  /** Per server: its plan for tools/call, for other methods, and per tool that has its own secrets. */
  private readonly plans = new Map<string, { call?: CallPlan; other?: CallPlan; tools: Map<string, CallPlan> }>();

  constructor(private readonly options: InjectorOptions) {}

  async inject(ctx: CallContext): Promise<Outcome<Injection>> {
    const use = this.options.servers[ctx.server];
    if (!use) return ok({ headers: {}, arguments: {}, used: [] });
    const plan = this.planFor(ctx.server, use, ctx.method === 'tools/call' ? ctx.downstreamTarget : undefined);
    for (const [argument] of plan.arguments) {
      if (ctx.arguments && Object.hasOwn(ctx.arguments, argument)) {
        return deny({
          kind: 'invalid_params',
          message: `Argument "${argument}" is set by the gateway and may not be supplied`,
          reason: `agent supplied injected argument ${argument}`,
        });
      }
    }
    const claims: MintClaims = {
      subject: ctx.principal.subject,
      ...(ctx.principal.task && { taskId: ctx.principal.task.id }),
      ...(ctx.method === 'tools/call' && { tool: ctx.downstreamTarget }),
    };
    const resolved = await this.resolveAll(plan.names, claims);
    if (!resolved.ok) return resolved;
    const values = resolved.value.values;
    const headers: Record<string, string> = {};
    for (const { header, template, minted } of plan.headers) {
      headers[header] = fillTemplate(template, values);
      this.rememberFilled(minted, headers[header], values);
    }
    const args: Record<string, unknown> = {};
    for (const [argument, name] of plan.arguments) args[argument] = values.get(name);
    const env = Object.fromEntries(plan.env.map(([variable, name]) => [variable, values.get(name)!]));
    return ok({ headers, arguments: args, ...(plan.env.length > 0 && { env }), used: resolved.value.used });
  }

  /** The plan for a call to `server` (`tool` for tools/call, else undefined), made on first use. */
  private planFor(server: string, use: ServerSecrets, tool: string | undefined): CallPlan {
    let known = this.plans.get(server);
    if (!known) this.plans.set(server, (known = { tools: new Map() }));
    if (tool === undefined) return (known.other ??= this.makePlan(use, undefined));
    if (!Object.hasOwn(use.tools, tool)) return (known.call ??= this.makePlan(use, tool));
    let plan = known.tools.get(tool);
    if (!plan) known.tools.set(tool, (plan = this.makePlan(use, tool)));
    return plan;
  }

  private makePlan(use: ServerSecrets, tool: string | undefined): CallPlan {
    const spec = secretsForCall(use, tool);
    const headers = Object.entries(spec.headers).map(([header, template]) => ({
      header,
      template,
      minted: this.mintedIn(template),
    }));
    const argumentTargets = tool === undefined ? [] : Object.entries(spec.arguments);
    const env = use.envMode === 'per-call' ? Object.entries(use.env) : [];
    const names = new Set([
      ...headers.flatMap(({ template }) => templateNames(template)),
      ...argumentTargets.map(([, name]) => name),
      ...env.map(([, name]) => name),
    ]);
    return { headers, arguments: argumentTargets, env, names };
  }

  /** Header secrets for requests outside any call (initialize, notifications): minted with the gateway as subject and no tool. */
  async protocolHeaders(server: string): Promise<Readonly<Record<string, string>>> {
    const use = this.options.servers[server];
    if (!use || Object.keys(use.headers).length === 0) return {};
    const values = await this.resolveForProcess(
      Object.values(use.headers).flatMap(templateNames),
      this.options.gatewaySubject ?? 'mcp-warden',
    );
    return Object.fromEntries(
      Object.entries(use.headers).map(([header, template]) => {
        const filled = fillTemplate(template, values);
        this.rememberFilled(this.mintedIn(template), filled, values);
        return [header, filled];
      }),
    );
  }

  /** Resolves secrets for a process start (stdio `env` in `spawn` mode, protocol-level requests). */
  async resolveForProcess(names: Iterable<string>, subject: string): Promise<Map<string, string>> {
    const resolved = await this.resolveAll(new Set(names), { subject });
    if (!resolved.ok) throw new SecretUnavailable(resolved.denial.reason);
    return resolved.value.values;
  }

  private async resolveAll(
    names: ReadonlySet<string>,
    claims: MintClaims,
  ): Promise<Outcome<{ values: Map<string, string>; used: { name: string; source: string; fingerprint: string }[] }>> {
    const values = new Map<string, string>();
    const used: { name: string; source: string; fingerprint: string }[] = [];
    for (const name of names) {
      const source = this.options.secrets[name];
      if (!source) return deny({ kind: 'secret_unavailable', secret: name, reason: `secret ${name} is not defined` });
      let value: string;
      try {
        value = reveal(await this.options.sources.resolve(name, source, claims));
      } catch (error) {
        const cause = error instanceof SecretUnavailable ? error.message : 'source failed';
        return deny({
          kind: 'secret_unavailable',
          secret: name,
          reason: `secret ${name} (${source.source}): ${cause}`,
        });
      }
      // A minted token: its header family, its payload's constant claims and its own signature until it expires.
      if (source.source === 'minted') this.options.egress.rememberMinted(value);
      else this.options.egress.remember(value);
      values.set(name, value);
      used.push({ name, source: source.source, fingerprint: this.fingerprint(value) });
    }
    return ok({ values, used });
  }

  private mintedIn(template: string): string | undefined {
    return templateNames(template).find((name) => this.options.secrets[name]?.source === 'minted');
  }

  /** A filled header is a secret too (its encodings differ from the value's); minted parts make it a prefix. */
  private rememberFilled(minted: string | undefined, filled: string, values: ReadonlyMap<string, string>): void {
    if (minted === undefined) return this.options.egress.remember(filled);
    const token = values.get(minted)!;
    const at = filled.indexOf(token);
    this.options.egress.rememberPrefix(filled.slice(0, at + token.indexOf('.') + 1));
  }

  private fingerprint(value: string): string {
    return `hmac-sha256:${createHmac('sha256', this.options.fingerprintKey).update(value).digest('hex').slice(0, 32)}`;
  }
}
