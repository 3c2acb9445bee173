import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer } from 'node:net';
import { resolve } from 'node:path';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { HttpServerConfig, SseServerConfig } from '../config/schema.js';
import { WardenError } from '../errors.js';
import type { Logger } from 'pino';
import { Backoff } from './backoff.js';
import { signalGroup, spawnInGroup, stopGroup } from './process-group.js';
import { relayStderr, resolveCommand } from './transport.js';

export type LaunchState = 'starting' | 'running' | 'backoff' | 'stopped';

/** An `http` or `sse` server entry with `launch`. */
export type LaunchableConfig = (HttpServerConfig | SseServerConfig) & {
  launch: NonNullable<HttpServerConfig['launch']>;
};

/**
 * Starts and supervises an HTTP (Streamable HTTP or HTTP+SSE) downstream that the config asks the gateway to launch. The child gets
 * a minimal environment, PORT (when the URL says port 0), a bearer credential generated for this launch
 * (MCP_WARDEN_DOWNSTREAM_TOKEN), and MCP_WARDEN_SUPERVISED=1 with a stdin pipe whose end means
 * "the gateway is gone". It is restarted with backoff when it exits.
 */
export class LaunchedServer {
  private child: ChildProcess | undefined;
  private stateValue: LaunchState = 'stopped';
  private readonly backoff = new Backoff();
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private exitStop: Promise<void> | undefined;
  private resolvedUrl: string;
  private readonly token = randomBytes(32).toString('base64url');
  private readonly log: Logger;

  constructor(
    readonly serverId: string,
    private readonly spec: LaunchableConfig,
    private readonly baseDir: string,
    logger: Logger,
    /** The gateway's published public keys, passed as MCP_WARDEN_JWKS_FILE so a child can verify minted credentials. */
    private readonly jwksFile?: string,
    /** The egress stage's text scrubber, for the child's stdout and stderr lines. */
    private readonly redact: (text: string) => string = (text) => text,
  ) {
    this.resolvedUrl = spec.url;
    this.log = logger.child({ server: serverId, launched: true });
  }

  get state(): LaunchState {
    return this.stateValue;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return this.resolvedUrl;
  }

  /** The bearer token generated for this launch: an internal credential the egress stage must know. */
  get credential(): string {
    return this.token;
  }

  /** The header every request to this server carries, unless the config sets its own Authorization. */
  get headers(): Record<string, string> {
    return { Authorization: `Bearer ${this.token}` };
  }

  async start(): Promise<void> {
    this.stopping = false;
    const url = new URL(this.spec.url);
    if (url.port === '0') {
      url.port = String(await freePort(url.hostname));
      this.resolvedUrl = url.toString();
    }
    await this.spawnAndWait();
  }

  private async spawnAndWait(): Promise<void> {
    const url = new URL(this.resolvedUrl);
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const launch = this.spec.launch;
    this.stateValue = 'starting';
    // Its own process group, so that stop() reaches whatever the server starts (process-group.ts).
    const child = spawnInGroup(resolveCommand(launch.command, this.baseDir), launch.args, {
      cwd: resolve(this.baseDir, launch.cwd ?? '.'),
      env: {
        ...getDefaultEnvironment(),
        ...launch.env,
        PORT: String(port),
        MCP_WARDEN_DOWNSTREAM_TOKEN: this.token,
        MCP_WARDEN_SUPERVISED: '1',
        ...(this.jwksFile !== undefined && { MCP_WARDEN_JWKS_FILE: this.jwksFile }),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    if (child.stdout) relayStderr(child.stdout, this.log.child({ stream: 'stdout' }), this.redact);
    if (child.stderr) relayStderr(child.stderr, this.log.child({ stream: 'stderr' }), this.redact);
    child.stdin?.on('error', () => undefined);
    const exited = new Promise<string>((resolveExit) => {
      child.once('exit', (code, signal) => resolveExit(`exited (${signal ?? `code ${code ?? '?'}`})`));
      child.once('error', (error) => resolveExit(`could not be started: ${error.message}`));
    });
    void exited.then((reason) => this.onExit(child, reason));

    const ready = await Promise.race([
      waitForPort(url.hostname, port, launch.readyTimeoutMs).then((up) => (up ? 'ready' : 'timeout')),
      exited,
    ]);
    if (ready === 'ready') {
      this.stateValue = 'running';
      this.backoff.up(Date.now());
      this.log.info({ pid: child.pid, url: this.resolvedUrl }, 'launched downstream is ready');
      return;
    }
    const reason = ready === 'timeout' ? `did not listen on port ${port} within ${launch.readyTimeoutMs} ms` : ready;
    if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    throw new WardenError('ERR_DOWNSTREAM_LAUNCH', `server ${this.serverId}: ${reason}`);
  }

  private onExit(child: ChildProcess, reason: string): void {
    // Whatever the server started goes with it (stop() waits for this too).
    this.exitStop = stopGroup(child);
    if (this.child !== child) return;
    this.child = undefined;
    if (this.stopping) {
      this.stateValue = 'stopped';
      return;
    }
    if (this.stateValue === 'starting') return; // start() or the restart's own catch reports it
    this.scheduleRestart(reason);
  }

  /** Another attempt after the backoff delay; a failed attempt schedules the next one, so supervision never lapses. */
  private scheduleRestart(reason: string): void {
    const delay = this.backoff.next(Date.now());
    this.stateValue = 'backoff';
    this.log.warn({ reason, retryInMs: delay }, 'launched downstream stopped; restarting with backoff');
    this.restartTimer = setTimeout(() => {
      this.spawnAndWait().catch((error: unknown) => {
        this.log.error({ err: (error as Error).message }, 'restart failed');
        if (!this.stopping) this.scheduleRestart('restart failed');
      });
    }, delay);
    this.restartTimer.unref();
  }

  /** End of stdin, SIGTERM to its process group, SIGKILL after a grace period; resolves once all of it is gone. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child) await stopGroup(child);
    await this.exitStop;
    this.stateValue = 'stopped';
  }
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host.replace(/^\[|\]$/g, ''), () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Polls a TCP connect until it succeeds or the time is up. */
async function waitForPort(host: string, port: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const up = await new Promise<boolean>((done) => {
      const socket = createConnection({ host: host.replace(/^\[|\]$/g, ''), port });
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (up) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
