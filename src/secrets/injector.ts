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
 * Resolves a server's secrets for one allowed call and says where they go. The raw value is read here
 * (and nowhere else on the way out); the egress stage is told every value before it leaves.
 */
export class ConfiguredSecrets implements SecretInjector {
  constructor(private readonly options: InjectorOptions) {}

  async inject(ctx: CallContext): Promise<Outcome<Injection>> {
    const use = this.options.servers[ctx.server];
    if (!use) return ok({ headers: {}, arguments: {}, used: [] });
    const spec = secretsForCall(use, ctx.method === 'tools/call' ? ctx.downstreamTarget : undefined);
    const argumentTargets = ctx.method === 'tools/call' ? Object.entries(spec.arguments) : [];
    for (const [argument] of argumentTargets) {
      if (ctx.arguments && Object.hasOwn(ctx.arguments, argument)) {
        return deny({
          kind: 'invalid_params',
          message: `Argument "${argument}" is set by the gateway and may not be supplied`,
          reason: `agent supplied injected argument ${argument}`,
        });
      }
    }
    const envTargets = use.envMode === 'per-call' ? Object.entries(use.env) : [];
    const names = new Set([
      ...Object.values(spec.headers).flatMap(templateNames),
      ...argumentTargets.map(([, name]) => name),
      ...envTargets.map(([, name]) => name),
    ]);
    const claims: MintClaims = {
      subject: ctx.principal.subject,
      ...(ctx.principal.task && { taskId: ctx.principal.task.id }),
      ...(ctx.method === 'tools/call' && { tool: ctx.downstreamTarget }),
    };
    const resolved = await this.resolveAll(names, claims);
    if (!resolved.ok) return resolved;
    const values = resolved.value.values;
    const headers: Record<string, string> = {};
    for (const [header, template] of Object.entries(spec.headers)) {
      headers[header] = fillTemplate(template, values);
      this.rememberFilled(template, headers[header], values);
    }
    const args: Record<string, unknown> = {};
    for (const [argument, name] of argumentTargets) args[argument] = values.get(name);
    const env = Object.fromEntries(envTargets.map(([variable, name]) => [variable, values.get(name)!]));
    return ok({ headers, arguments: args, ...(envTargets.length > 0 && { env }), used: resolved.value.used });
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
        this.rememberFilled(template, filled, values);
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
    names: Set<string>,
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

  /** A filled header is a secret too (its encodings differ from the value's); minted parts make it a prefix. */
  private rememberFilled(template: string, filled: string, values: ReadonlyMap<string, string>): void {
    const minted = templateNames(template).find((name) => this.options.secrets[name]?.source === 'minted');
    if (minted === undefined) return this.options.egress.remember(filled);
    const token = values.get(minted)!;
    const at = filled.indexOf(token);
    this.options.egress.rememberPrefix(filled.slice(0, at + token.indexOf('.') + 1));
  }

  private fingerprint(value: string): string {
    return `hmac-sha256:${createHmac('sha256', this.options.fingerprintKey).update(value).digest('hex').slice(0, 32)}`;
  }
}
