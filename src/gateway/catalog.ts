import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import type { Prompt, Resource, Tool } from '@modelcontextprotocol/sdk/types.js';
import {
  exposedName,
  type Aggregate,
  type Catalog,
  type CatalogSource,
  type Problem,
  type Routed,
} from '../model/catalog.js';
import { DOWNSTREAM_NAME_PATTERN, cleanLabel, cleanText } from '../model/sanitize.js';
import { definitionHash as hashDefinition } from '../integrity/hash.js';
import { hideArguments } from '../secrets/hide.js';
import type { Scrubber } from '../pipeline/stages.js';
import { isWardenError } from '../errors.js';
import { mapJson } from '../model/json-walk.js';

const MAX_EXPOSED_NAME = 128;

/**
 * Pure: merges catalogs in the given (config) order. A name outside `^[A-Za-z0-9_.-]{1,128}$` is
 * refused; two servers exposing the same name both lose it (and it is reported), so a later server can
 * never shadow an earlier one's tool.
 */
export function aggregate(egress: Pick<Scrubber, 'scrubValue'>, given: readonly CatalogSource[]): Aggregate {
  const cached = recent.find((entry) => entry.egress === egress && sameSources(entry.sources, given));
  if (cached) return cached.view;
  const view = merge(given, egress);
  recent.unshift({ egress, sources: given.map((source) => ({ ...source })), view });
  if (recent.length > VIEWS_KEPT) recent.pop();
  return view;
}

/**
 * Views are pure functions of their sources, and connections share identical lists (see
 * src/downstream/intern.ts), so sessions on the same server versions share one merged view (never
 * mutated after it is built) instead of each building and keeping its own.
 */
const VIEWS_KEPT = 8;
const recent: { egress: Pick<Scrubber, 'scrubValue'>; sources: readonly CatalogSource[]; view: Aggregate }[] = [];

function sameSources(a: readonly CatalogSource[], b: readonly CatalogSource[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i]!;
    return (
      x.serverId === y.serverId &&
      x.prefix === y.prefix &&
      x.hiddenArguments === y.hiddenArguments &&
      x.catalog.tools === y.catalog.tools &&
      x.catalog.prompts === y.catalog.prompts &&
      x.catalog.resources === y.catalog.resources &&
      x.catalog.templates === y.catalog.templates
    );
  });
}

/**
 * Every definition the agent sees passes the egress stage here, once per merged view (views are shared
 * by every session on the same lists): a secret a server put in a description, a schema, a template or
 * any other field is gone before any session lists it. An item whose name or URI held one is refused.
 */
function merge(given: readonly CatalogSource[], egress: Pick<Scrubber, 'scrubValue'>): Aggregate {
  const sources = given.map((s) => {
    const hidden = s.hiddenArguments;
    return hidden
      ? { ...s, catalog: { ...s.catalog, tools: s.catalog.tools.map((t) => hideArguments(t, hidden(t.name))) } }
      : s;
  });
  const problems: Problem[] = [];
  const scrubbed = <T extends object>(
    cleaned: () => T,
    key: (item: T) => string,
    server: string,
    noun: string,
  ): T | undefined => {
    let item: T;
    let out: T;
    try {
      item = cleaned();
      out = egress.scrubValue(item);
    } catch (error) {
      if (!isWardenError(error, 'ERR_JSON_TOO_DEEP')) throw error;
      problems.push({
        kind: 'invalid_definition',
        server,
        detail: `a ${noun} definition nested too deep to clean is not listed`,
      });
      return undefined;
    }
    if (key(out) === key(item)) return out;
    problems.push({
      kind: 'invalid_name',
      server,
      detail: `a ${noun} whose name or URI contains a secret value is not listed`,
    });
    return undefined;
  };
  const tools = mergeNamed(given, sources, (c) => c.tools, 'tool', problems, cleanTool, scrubbed);
  const prompts = mergeNamed(given, sources, (c) => c.prompts, 'prompt', problems, cleanPrompt, scrubbed);
  const resources = new Map<string, { server: string; item: Resource }>();
  const templates: Aggregate['templates'] = [];
  for (const source of sources) {
    for (const resource of source.catalog.resources) {
      // Resource URIs are not renamed: the first server in config order that lists a URI owns it, and
      // a later server's resource with the same URI is not offered (README, Registering a server).
      const owner = resources.get(resource.uri)?.server;
      if (owner !== undefined) {
        if (owner !== source.serverId) {
          problems.push({
            kind: 'shadowed_resource',
            server: source.serverId,
            detail: `resource ${resource.uri} is also listed by ${owner}, which comes first in the config: reads go to ${owner}, and ${source.serverId}'s is not offered`,
          });
        }
        continue;
      }
      const item = scrubbed(
        () => cleanDescribed(resource),
        (r) => r.uri,
        source.serverId,
        'resource',
      );
      if (item) resources.set(resource.uri, { server: source.serverId, item });
    }
    for (const template of source.catalog.templates) {
      // The same rule for templates: the first server's matches every URI the template does.
      const first = templates.find((t) => t.item.uriTemplate === template.uriTemplate)?.server;
      if (first !== undefined) {
        if (first !== source.serverId) {
          problems.push({
            kind: 'shadowed_resource',
            server: source.serverId,
            detail: `resource template ${template.uriTemplate} is also offered by ${first}, which comes first in the config: URIs it matches go to ${first}, and ${source.serverId}'s is not offered`,
          });
        }
        continue;
      }
      const item = scrubbed(
        () => cleanDescribed(template),
        (t) => t.uriTemplate,
        source.serverId,
        'resource template',
      );
      if (item) templates.push({ server: source.serverId, item, matcher: compileTemplate(template.uriTemplate) });
    }
  }
  return { tools, prompts, resources, templates, problems };
}

/** The server that owns a resource URI: an exact listed resource first, then the first matching template. */
export function routeResource(view: Aggregate, uri: string): string | undefined {
  const exact = view.resources.get(uri);
  if (exact) return exact.server;
  for (const template of view.templates) {
    if (template.item.uriTemplate === uri) return template.server;
    if (template.matcher?.match(uri)) return template.server;
  }
  return undefined;
}

function mergeNamed<T extends { name: string }>(
  original: readonly CatalogSource[],
  sources: readonly CatalogSource[],
  pick: (catalog: Catalog) => readonly T[],
  noun: string,
  problems: Problem[],
  clean: (item: T, name: string) => T,
  scrubbed: (cleaned: () => T, key: (item: T) => string, server: string, noun: string) => T | undefined,
): Map<string, Routed<T>> {
  const merged = new Map<string, Routed<T>>();
  const collided = new Set<string>();
  for (const [index, source] of sources.entries()) {
    // Hashes are taken over what the downstream sent, before secret arguments are hidden from the schema.
    const raw = new Map(pick(original[index]!.catalog).map((item) => [item.name, item]));
    for (const item of pick(source.catalog)) {
      if (!DOWNSTREAM_NAME_PATTERN.test(item.name)) {
        problems.push({
          kind: 'invalid_name',
          server: source.serverId,
          detail: `${noun} name ${JSON.stringify(cleanLabel(item.name).slice(0, 200))} is not allowed (must match ${DOWNSTREAM_NAME_PATTERN.source})`,
        });
        continue;
      }
      const name = exposedName(source.prefix, item.name);
      if (name.length > MAX_EXPOSED_NAME) {
        problems.push({
          kind: 'invalid_name',
          server: source.serverId,
          detail: `${noun} name ${name} is longer than ${MAX_EXPOSED_NAME} characters`,
        });
        continue;
      }
      const existing = merged.get(name);
      if (existing || collided.has(name)) {
        problems.push({
          kind: 'collision',
          server: source.serverId,
          detail: `${noun} ${name} is also exposed by ${existing?.server ?? 'another server'}`,
        });
        merged.delete(name);
        collided.add(name);
        continue;
      }
      const definitionHash = hashDefinition(
        noun === 'tool' ? 'tool' : 'prompt',
        (raw.get(item.name) ?? item) as unknown as Record<string, unknown>,
      );
      const shown = scrubbed(
        () => clean(item, name),
        (i) => i.name,
        source.serverId,
        noun,
      );
      if (shown) merged.set(name, { server: source.serverId, downstreamName: item.name, item: shown, definitionHash });
    }
  }
  return merged;
}

function cleanTool(tool: Tool, name: string): Tool {
  const out: Tool = { ...tool, name };
  if (tool.title !== undefined) out.title = cleanLabel(tool.title);
  if (tool.description !== undefined) out.description = cleanText(tool.description);
  if (tool.annotations?.title !== undefined)
    out.annotations = { ...tool.annotations, title: cleanLabel(tool.annotations.title) };
  // The model reads schema descriptions too; values (enum, const, pattern, default) stay as the server needs them.
  out.inputSchema = cleanSchemaText(tool.inputSchema);
  if (tool.outputSchema !== undefined) out.outputSchema = cleanSchemaText(tool.outputSchema);
  return out;
}

/** A copy of a JSON Schema with every `title` and `description` string cleaned like a description (one walk, one depth rule). */
function cleanSchemaText<T>(schema: T): T {
  return mapJson(schema, {
    string: (text) => text,
    member: (key, value) =>
      (key === 'description' || key === 'title') && typeof value === 'string' ? cleanText(value) : undefined,
  }) as T;
}

function cleanPrompt(prompt: Prompt, name: string): Prompt {
  const out: Prompt = { ...prompt, name };
  if (prompt.title !== undefined) out.title = cleanLabel(prompt.title);
  if (prompt.description !== undefined) out.description = cleanText(prompt.description);
  if (prompt.arguments) {
    out.arguments = prompt.arguments.map((arg) => ({
      ...arg,
      ...(arg.description !== undefined && { description: cleanText(arg.description) }),
    }));
  }
  return out;
}

function cleanDescribed<T extends { name: string; title?: string; description?: string }>(item: T): T {
  const out: T = { ...item, name: cleanLabel(item.name) };
  if (item.title !== undefined) out.title = cleanLabel(item.title);
  if (item.description !== undefined) out.description = cleanText(item.description);
  return out;
}

function compileTemplate(template: string): UriTemplate | undefined {
  try {
    return new UriTemplate(template);
  } catch {
    return undefined;
  }
}
