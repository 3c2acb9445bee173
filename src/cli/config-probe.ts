import { join } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { CircuitBreaker } from '../downstream/breaker.js';
import { DownstreamConnection, describe } from '../downstream/connection.js';
import { LaunchedServer, type LaunchableConfig } from '../downstream/launcher.js';
import { createClientTransport } from '../downstream/transport.js';
import { aggregate } from '../gateway/catalog.js';
import type { Catalog, Problem } from '../model/catalog.js';
import type { Logger } from 'pino';
import { JWKS_FILE } from '../secrets/setup.js';

export interface ProbeReport {
  /** Per enabled server, in config order: what it offers, or why it could not be asked. */
  servers: { id: string; error?: string; tools: number; prompts: number; resources: number; templates: number }[];
  /** Name collisions (the gateway would refuse to start), shadowed resource URIs and templates, refused names. */
  problems: Problem[];
}

/**
 * `config check --probe`: asks every enabled server what it offers, as the gateway's start-up probe
 * does (launching the servers it would launch, one connection each, closed again), and merges the
 * lists with the gateway's own rules (gateway/catalog.ts), so that collisions are reported before a
 * start. Servers that need secret headers are asked without them and may fail to answer.
 */
export async function probeServers(loaded: LoadedConfig, logger: Logger): Promise<ProbeReport> {
  const entries = Object.entries(loaded.config.servers).filter(([, spec]) => spec.enabled);
  const launched = new Map<string, LaunchedServer>();
  const identity = (text: string): string => text;
  try {
    for (const [id, spec] of entries) {
      if ((spec.transport === 'http' || spec.transport === 'sse') && spec.launch) {
        launched.set(
          id,
          new LaunchedServer(
            id,
            spec as LaunchableConfig,
            loaded.baseDir,
            logger,
            join(loaded.dataDir, 'keys', JWKS_FILE),
            identity,
          ),
        );
      }
    }
    await Promise.all([...launched.values()].map((server) => server.start()));
    const results = await Promise.all(
      entries.map(async ([id, spec]) => {
        const launch = launched.get(id);
        const configured =
          spec.transport !== 'stdio' && Object.keys(spec.headers).some((h) => h.toLowerCase() === 'authorization');
        const connection = new DownstreamConnection({
          serverId: id,
          logger,
          capabilities: {},
          connectTimeoutMs: spec.connectTimeoutMs,
          breaker: new CircuitBreaker(),
          protocol: spec.protocol,
          makeTransport: (era) =>
            createClientTransport(
              id,
              spec,
              loaded.baseDir,
              logger,
              {
                ...(launch && { url: launch.url, headers: configured ? {} : launch.headers }),
                redact: identity,
              },
              era,
            ),
        });
        try {
          await connection.ready();
          return { catalog: connection.catalog, error: undefined };
        } catch (error) {
          return { catalog: connection.catalog, error: describe(error) };
        } finally {
          await connection.close();
        }
      }),
    );
    const sources = entries.map(([id, spec], index) => ({
      serverId: id,
      prefix: spec.prefix === false ? (false as const) : (spec.prefix ?? id),
      catalog: results[index]!.catalog,
    }));
    const view = aggregate({ scrubValue: <T>(value: T) => value }, sources);
    return {
      servers: entries.map(([id], index) => {
        const { catalog, error } = results[index]!;
        return { id, ...(error !== undefined && { error }), ...counts(catalog) };
      }),
      problems: view.problems,
    };
  } finally {
    await Promise.all([...launched.values()].map((server) => server.stop()));
  }
}

function counts(catalog: Catalog): { tools: number; prompts: number; resources: number; templates: number } {
  return {
    tools: catalog.tools.length,
    prompts: catalog.prompts.length,
    resources: catalog.resources.length,
    templates: catalog.templates.length,
  };
}
