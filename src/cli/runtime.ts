// Over 300 lines: the wiring of a running gateway (serve and stdio), every stage built from the config in one place and order.
// Imported by run.ts once the configuration is valid: a start that fails on its config does not load the gateway.
import type { PublishedKeys } from '../state/pg/published-keys.js';
import { KeyStore } from '../state/keys.js';
import { SqliteSharedState } from '../state/sqlite-shared.js';
import { PgStateGauges } from '../state/pg/gauges.js';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { configLoadEvent, openAudit } from '../audit/open.js';
import type { AuditLog } from '../audit/sink.js';
import { DEFAULT_CONSOLE_PORT } from '../config/schema.js';
import type { LoadedConfig } from '../config/load.js';
import { WardenError } from '../errors.js';
import { Gateway } from '../gateway/gateway.js';
import { JwtAuthenticator, LocalAuthenticator, type RequestAuthenticator } from '../identity/authenticator.js';
import { StdioCredential } from '../identity/stdio-credential.js';
import { localPrincipal, type Principal } from '../model/principal.js';
import type { ConsoleServer } from '../console/server.js';
import { startStdioIngress } from '../ingress/stdio.js';
import { createLogger, type Logger } from '../observe/logger.js';
import { Observability } from '../observe/setup.js';
import { TaskGrantAuthorizer } from '../policy/grants.js';
import { LocalDevAuthorizer } from '../policy/local-dev.js';
import { governanceFor } from '../gateway/governance.js';
import { clockFromEnv } from '../model/clock.js';
import { Egress } from '../egress/egress.js';
import { secretsFor, withOthers } from '../secrets/setup.js';
import { StoreApprover } from '../integrity/approver.js';
import { stateFile } from '../state/db.js';
import { PinAuthorizer } from '../integrity/pin-authorizer.js';
import { pinRegistryFor } from '../integrity/registry-setup.js';
import { EXIT, untilSignal } from './common.js';
import { jwtSetup, type JwtSetup } from './identity.js';
import { listenFailure } from './listen-error.js';

export interface Runtime {
  /** The policy's console reviewers (none without a policy). */
  reviewers: () => readonly { subject: string; issuer?: string }[];
  loaded: LoadedConfig;
  logger: Logger;
  gateway: Gateway;
  authenticator: RequestAuthenticator;
  jwt: JwtSetup | undefined;
  audit: AuditLog;
  observe: Observability;
  /** Every replica's published signing keys (the shared store), for the JWKS endpoint. */
  published?: PublishedKeys;
}

/** Builds every stage from a config run.ts checked (an unsafe start was refused there). */
export async function prepare(loaded: LoadedConfig): Promise<Runtime> {
  // The one egress stage, built first: every log line, record, list, result and console payload passes it.
  const egress = new Egress();
  const logger = createLogger({ level: loaded.config.logging.level, scrubLine: (line) => egress.logLine(line) });
  const auth = loaded.config.auth!; // run.ts refused a config without one
  mkdirSync(loaded.dataDir, { recursive: true, mode: 0o700 });
  // Metrics and traces as configured; the trace exporter is loaded only when an OTLP endpoint is set.
  const observe = await Observability.start(loaded, logger);
  const jwt = jwtSetup(loaded);
  let authenticator: RequestAuthenticator;
  if (auth.mode === 'unauthenticated-local') {
    logger.warn(
      { authMode: auth.mode, subject: auth.subject },
      'UNAUTHENTICATED LOCAL MODE: every caller is treated as the local principal; every action is recorded as unauthenticated. Do not expose this gateway.',
    );
    authenticator = new LocalAuthenticator(auth.subject);
  } else {
    // The built-in issuer's signing key is created on first start by the audit's open, under the audit
    // database's write lock, so two gateways starting together on one data folder cannot both create one.
    const authLog = logger.child({ component: 'auth' });
    authenticator = new JwtAuthenticator(jwt!.verifier, auth.requiredScopes, (reason, kind) => {
      authLog.warn({ reason }, 'authentication failed');
      observe.authFailure(kind);
      audit.authFailure(reason);
    });
  }
  // The policy is checked before anything is opened for writing; its events go to the audit log opened next.
  const governance = governanceFor(
    loaded,
    logger,
    {
      event: (event) => {
        observe.event(event);
        return audit.event(event);
      },
    },
    () => clockFromEnv(process.env, (message) => logger.warn(message)),
  );
  // The shared store (PostgreSQL): migrated and connected before anything is served, or no start.
  // Its client is imported only when configured.
  const storeConfig = loaded.config.store;
  const store =
    storeConfig.kind === 'postgres'
      ? await import('../state/pg/open.js').then(({ openPgStore }) => openPgStore(storeConfig, loaded.baseDir))
      : undefined;
  // No audit, no action: a gateway whose audit log (audit.db, or the PostgreSQL store's audit tables) cannot
  // be opened and written does not start.
  const audit = await openAudit({
    store: loaded.config.store,
    baseDir: loaded.baseDir,
    dataDir: loaded.dataDir,
    settings: loaded.config.audit,
    logger: logger.child({ component: 'audit' }),
    details: { config: loaded.file, authMode: auth.mode },
    redact: (text) => egress.scrubText(text),
  }).catch(async (error: unknown) => {
    await store?.close();
    throw error;
  });
  await audit.event(configLoadEvent(loaded));
  const shared =
    store &&
    (await import('./shared-store.js')
      .then(({ sharedGovernance }) => sharedGovernance(store, governance, logger))
      .catch(async (error: unknown) => {
        await store.close();
        await audit.close();
        throw error;
      }));
  // Every replica's signing keys' public halves, this one's published (the audit log created it): tokens
  // of the built-in issuer and minted credentials signed by any replica verify with any replica's keys.
  const minting = Object.values(loaded.config.secrets).some((secret) => secret.source === 'minted');
  const published =
    store &&
    shared &&
    (jwt?.auth.builtin || minting) &&
    (await import('./shared-store.js')
      .then(({ sharedKeys }) =>
        sharedKeys(
          store,
          shared.state,
          jwt?.keys ?? new KeyStore(loaded.dataDir),
          jwt?.auth.builtin ? jwt : undefined,
          logger,
        ),
      )
      .catch(async (error: unknown) => {
        shared.cache.close();
        await store.close();
        await audit.close();
        throw error;
      }));
  // After the audit log (and the signing key) exist: a failing spawn-mode secret stops the start here.
  const secrets = await secretsFor(loaded, egress, Date.now, published || undefined);
  // Definition pins (state.db, or the shared store): a gateway that cannot check them does not start.
  const pins = await pinRegistryFor(
    loaded,
    logger,
    (event) => audit.event(event),
    egress,
    store && shared && (await import('./shared-store.js')).sharedPins(store, shared.state, logger),
  ).catch(async (error: unknown) => {
    shared?.cache.close();
    if (published) published.close();
    await store?.close();
    await audit.close();
    throw error;
  });
  const policyAuthorizer =
    governance?.authorizer ??
    (auth.mode === 'unauthenticated-local' ? new LocalDevAuthorizer() : new TaskGrantAuthorizer());
  const gateway = new Gateway(
    secrets.loaded,
    logger,
    {
      authorizer: pins ? new PinAuthorizer(policyAuthorizer, pins) : policyAuthorizer,
      audit,
      secrets: secrets.injector,
      scrubber: egress,
      approver: new StoreApprover({
        stateFile: stateFile(loaded.dataDir),
        audit,
        ttlMs: loaded.config.gateway.approvals.ttlSeconds * 1000,
        inBand: loaded.config.gateway.approvals.elicitation,
        logger: logger.child({ component: 'approvals' }),
        redact: (text) => egress.scrubText(text),
        ...(shared && { shared: shared.state }),
      }),
      now: Date.now,
      ...(shared && { store: shared.cache }),
      ...observe.pipeline,
    },
    governance,
    pins,
  );
  if (store) observe.readStateFrom(new PgStateGauges(store.pool));
  if (store && shared)
    gateway.attachStore({
      health: () => store.health(),
      spends: shared.state,
      close: async () => {
        shared.cache.close();
        if (published) published.close();
        await store.close();
      },
    });
  else {
    // On SQLite, spent requestStates go through state.db too: every process on the data folder (they share
    // the sealing key) refuses a state another one spent.
    const local = new SqliteSharedState(stateFile(loaded.dataDir));
    gateway.attachStore({
      health: () => ({ kind: 'sqlite', status: 'up' }),
      spends: local,
      close: () => local.close(),
    });
  }
  observe.attach({
    sessionCount: () => gateway.sessionCount,
    breakers: () => gateway.breakers(),
    audit,
    ...(governance && { policyVersion: () => governance.holder.current.version }),
  });
  governance?.onChange(() => gateway.permissionsChanged());
  pins?.onChange((kinds) => gateway.pinsChanged(kinds));
  pins?.startPolling();
  governance?.start();
  return {
    loaded,
    logger,
    gateway,
    authenticator,
    jwt,
    audit,
    observe,
    reviewers: () => governance?.holder.current.reviewers ?? [],
    ...(published && { published }),
  };
}

/** `serve` with the config and flags run.ts checked (`port` undefined: the config's). */
export async function serveGateway(
  loaded: LoadedConfig,
  flags: { host: string; port: number | undefined; demo: boolean },
): Promise<number> {
  const { host, port } = flags;
  const runtime = await prepare(loaded);
  const { gateway, logger } = runtime;
  await startOrStop(gateway, runtime.audit);
  const gatewayPort = port ?? loaded.config.gateway.port;
  // The HTTP ingress (and the SDK's HTTP transport under it) only here: a stdio gateway does not load it.
  const { startHttpIngress } = await import('../ingress/http.js');
  const ingress = await startHttpIngress({
    gateway,
    settings: loaded.config.gateway,
    host,
    port: gatewayPort,
    authenticator: runtime.authenticator,
    logger,
    ...(runtime.observe.onAgentListener && { metrics: runtime.observe.endpoint! }),
    ...(runtime.jwt && {
      identity: {
        resource: runtime.jwt.resource,
        issuers: runtime.jwt.verifier.issuerNames,
        scopes: runtime.jwt.auth.requiredScopes,
        ...(runtime.jwt.auth.builtin && {
          // Every replica's keys with the shared store: a downstream trusting this endpoint verifies them all.
          jwks: () =>
            withOthers(
              runtime.jwt!.keys.publicJwks(Date.now(), runtime.jwt!.auth.maxTokenLifetimeSeconds * 1000).keys,
              runtime.published,
              Date.now(),
            ),
        }),
      },
    }),
  }).catch(async (error: unknown) => {
    await gateway.stop(); // e.g. EADDRINUSE: launched downstreams must not outlive a failed start
    await runtime.audit.close();
    await runtime.observe.close();
    const fix = port === undefined ? `set gateway.port in ${loaded.file} or pass --port PORT` : 'pass another --port';
    throw listenFailure(error, {
      listener: 'the gateway',
      host,
      port: gatewayPort,
      fix: `${fix} (--port 0 picks a free port)`,
    });
  });
  // The reviewer console on its own listener; its decisions go to this gateway's audit log. Unless its
  // port is configured, `--port 0` frees it too, so two gateways can run side by side.
  let consoleServer: ConsoleServer | undefined;
  if (loaded.config.console.enabled) {
    const consolePort = loaded.config.console.port ?? (port === 0 ? 0 : DEFAULT_CONSOLE_PORT);
    const { startConsole } = await import('../console/server.js');
    consoleServer = await startConsole({
      dataDir: loaded.dataDir,
      settings: loaded.config.console,
      host: loaded.config.console.host,
      port: consolePort,
      reviewers: runtime.reviewers,
      record: (event) => runtime.audit.event(event),
      // Breaker errors can hold a server's own text: through the egress stage, as everything shown.
      servers: () => gateway.egress.scrubValue(gateway.health().servers),
      ...(loaded.config.store.kind === 'postgres' && {
        store: { config: loaded.config.store, baseDir: loaded.baseDir },
      }),
      auditSettings: loaded.config.audit,
      logger: logger.child({ component: 'console' }),
      ...(runtime.observe.onConsole && { metrics: runtime.observe.endpoint! }),
    }).catch(async (error: unknown) => {
      await ingress.close();
      await gateway.stop();
      await runtime.audit.close();
      await runtime.observe.close();
      const fix = `set console.port in ${loaded.file} (0 picks a free port), or console.enabled false`;
      throw listenFailure(error, {
        listener: 'the reviewer console',
        host: loaded.config.console.host,
        port: consolePort,
        fix,
      });
    });
  }
  const metricsUrl = await listenForMetrics(runtime, async () => {
    await consoleServer?.close();
    await ingress.close();
  });
  process.stdout.write(`mcp-warden listening on ${ingress.url}\n`);
  if (consoleServer)
    process.stderr.write(
      `mcp-warden reviewer console on ${consoleServer.url} (sign in: mcp-warden console login --sub SUBJECT)\n`,
    );
  if (metricsUrl) process.stderr.write(`mcp-warden metrics on ${metricsUrl}\n`);
  if (flags.demo) await (await import('./demo.js')).printDemo(runtime.jwt, ingress.url);
  await untilSignal(logger);
  await consoleServer?.close();
  return shutDown(ingress, gateway, runtime, logger);
}

/** `stdio` with a valid config. */
export async function stdioGateway(loaded: LoadedConfig, flags: { tokenFile: string | undefined }): Promise<number> {
  const runtime = await prepare(loaded);
  const { gateway, logger, jwt } = runtime;
  let principalOf: () => Promise<Principal>;
  if (jwt) {
    const token = process.env.MCP_WARDEN_TOKEN;
    if (flags.tokenFile === undefined && !token) {
      throw new WardenError(
        'ERR_UNSAFE_STARTUP',
        'auth.mode is "jwt": give the agent a token with MCP_WARDEN_TOKEN or --token-file PATH (mcp-warden token issue --sub ...)',
      );
    }
    const credential = new StdioCredential(jwt.verifier, {
      ...(token && { token }),
      ...(flags.tokenFile !== undefined && { tokenFile: resolve(flags.tokenFile) }),
      renewHint:
        flags.tokenFile !== undefined
          ? `Write a fresh token to ${resolve(flags.tokenFile)} (mcp-warden token issue --sub <agent> > ${resolve(flags.tokenFile)}).`
          : 'Restart the gateway with a fresh MCP_WARDEN_TOKEN (mcp-warden token issue --sub <agent>).',
      // Counted like the HTTP authenticator's failures; the session records each one in the audit log.
      onFailure: (_reason, kind) => runtime.observe.authFailure(kind),
    });
    principalOf = () => credential.principal();
  } else {
    const principal = localPrincipal(
      loaded.config.auth?.mode === 'unauthenticated-local' ? loaded.config.auth.subject : 'local-dev',
    );
    principalOf = async () => principal;
  }
  // One agent per process: each stdio server's start-up probe connection is the session's (started once).
  await startOrStop(gateway, runtime.audit, { keepProbes: true });
  const metricsUrl = await listenForMetrics(runtime, async () => undefined);
  if (metricsUrl) logger.info({ url: metricsUrl }, 'metrics listener ready');
  const settings = loaded.config.gateway;
  const ingress = await startStdioIngress({
    gateway,
    settings,
    logger,
    principalOf,
    limits: {
      maxBytes: settings.maxBodyBytes,
      maxDepth: settings.maxJsonDepth,
      maxKeys: settings.maxJsonKeys,
      maxNodes: settings.maxJsonNodes,
    },
  });
  await Promise.race([ingress.closed, untilSignal(logger)]);
  return shutDown(ingress, gateway, runtime, logger);
}

/** The end of `serve` and `stdio`: the ingress first (no new work), then the gateway, the audit, telemetry. */
async function shutDown(
  ingress: { close(): Promise<void> },
  gateway: { stop(): Promise<void> },
  runtime: { audit: { close(): Promise<void> }; observe: { close(): Promise<void> } },
  logger: Logger,
): Promise<number> {
  await ingress.close();
  await gateway.stop();
  await runtime.audit.close();
  await runtime.observe.close();
  logger.flush();
  return EXIT.ok;
}

/** The dedicated metrics listener (`metrics.port`), if configured; a failed start stops everything started before it. */
async function listenForMetrics(runtime: Runtime, closeListeners: () => Promise<void>): Promise<string | undefined> {
  try {
    return await runtime.observe.listen(runtime.logger.child({ component: 'metrics' }));
  } catch (error) {
    await closeListeners();
    await runtime.gateway.stop();
    await runtime.audit.close();
    await runtime.observe.close();
    throw error;
  }
}

async function startOrStop(gateway: Gateway, audit: AuditLog, options: { keepProbes?: boolean } = {}): Promise<void> {
  try {
    await gateway.start(options);
  } catch (error) {
    await gateway.stop();
    await audit.close();
    throw error;
  }
}
