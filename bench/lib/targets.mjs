// What the suite measures: the echo server reached directly (stdio, and its own Streamable HTTP mode),
// through mcp-warden with all governance on (stdio→stdio, HTTP→stdio, HTTP→HTTP), and through the
// thin proxies mcp-proxy and supergateway when they are installed. Each target starts its processes
// once (`start`) and opens real SDK client sessions on demand (`connect`).
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { BIN, ECHO, HANG_GUARD_MS, ROOT, visibleExtraTools } from './setup.mjs';
import { freePort, startProcess, trackPid, untrackPid } from './procs.mjs';

const RELAY = join(ROOT, 'bench/servers/relay.mjs');
const RELAY_READY = /^relay listening on (http:\/\/\S+)$/;
const MCP_PROXY = join(ROOT, 'node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs');
const SUPERGATEWAY = join(ROOT, 'node_modules/supergateway/dist/index.js');
const GATEWAY_READY = /^mcp-warden listening on (http:\/\/\S+)$/;
const ECHO_READY = /^echo listening on (http:\/\/\S+)$/;

let rawIds = 1_000_000;

/** The JSON messages of an SSE body: events split on blank lines, their `data:` lines joined (empty ones, such as priming events, skipped). */
function sseMessages(text) {
  const messages = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
      .join('\n');
    if (data.trim() !== '') messages.push(JSON.parse(data));
  }
  return messages;
}

/**
 * The fetch of a bench session's transport. The SDK passes the session's one AbortSignal to every request,
 * and the global fetch (undici) adds an abort listener to that signal per request, removed only once the
 * request has been garbage-collected: a busy session piled up over 1,500 of them and Node printed
 * MaxListenersExceededWarning (undici raises the signal's limit to 1,500). Only the GET, the session's
 * long-lived event stream that closing the session must end, is given the session's signal; the bench
 * reads every POST and DELETE answer whole before it closes a session, so they go without it.
 */
const sessionFetch = (url, init) =>
  globalThis.fetch(url, init?.method === 'GET' ? init : { ...init, signal: undefined });

/** A session: a connected SDK client and how to end it (HTTP sessions are terminated with DELETE). */
export async function openHttp(url, headers) {
  const client = new Client({ name: 'warden-bench', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers }, fetch: sessionFetch });
  await client.connect(transport);
  const session = {
    client,
    /** When the last `raw` answer's last byte had arrived (performance.now()), before it was parsed. */
    receivedAt: NaN,
    /** One JSON-RPC request on this session with plain fetch + JSON.parse: no client-side schema work. */
    async raw(method, params = {}) {
      const response = await globalThis.fetch(url, {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-session-id': transport.sessionId,
          'mcp-protocol-version': transport.protocolVersion ?? '2025-06-18',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++rawIds, method, params }),
      });
      const text = await response.text();
      // the whole answer has arrived; what follows is the client's own split and parse
      session.receivedAt = performance.now();
      if (!response.ok) throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
      const json = (response.headers.get('content-type') ?? '').includes('text/event-stream')
        ? sseMessages(text).find((m) => m.id === rawIds)
        : JSON.parse(text);
      if (!json || json.error) throw new Error(`${method}: ${JSON.stringify(json?.error ?? 'no response')}`);
      return json.result;
    },
    async close() {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
  return session;
}

async function openStdio(command, args, env) {
  const client = new Client({ name: 'warden-bench', version: '1.0.0' });
  const transport = new StdioClientTransport({
    command,
    args,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stderr: 'ignore',
  });
  await client.connect(transport);
  const pid = transport.pid;
  if (pid) trackPid(pid);
  return {
    client,
    async close() {
      await client.close();
      if (pid) untrackPid(pid);
    },
  };
}

/** Polls `url` with an MCP initialize until the server answers (for peers that print no ready line). */
async function waitForMcp(url, proc, timeoutMs = HANG_GUARD_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exited) throw new Error(`${proc.name} exited before it was ready\n${proc.stderr}`);
    try {
      const session = await openHttp(url, {});
      await session.close();
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`${proc.name}: not ready within ${timeoutMs} ms (${error.message})\n${proc.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * @param {{ extraTools: number, governance: ReturnType<typeof import('./setup.mjs').prepareGovernance>, peers: boolean }} options
 */
export function defineTargets({ extraTools, governance, peers }) {
  // `--run DIR` is ignored by the server; it names this run on every command line, so a test can check
  // that nothing of it is left running.
  const echoArgs = [ECHO, '--tools', String(extraTools), '--run', governance.dir];
  const direct = { tool: 'echo', credential: 'none', listed: extraTools + 1 };
  const governed = {
    tool: 'echo__echo',
    credential: 'verified',
    listed: visibleExtraTools(extraTools) + 3,
    governed: true,
  };

  /** mcp-warden `serve` (HTTP ingress) in front of the echo server over `downstream`, governance on. */
  const servedGateway = (downstream) => ({
    name: `warden HTTP→${downstream === 'stdio' ? 'stdio' : 'HTTP'}`,
    transport: 'http',
    ...governed,
    downstream,
    async start() {
      // Issued before the gateway starts: the issuer's first key is made by `token issue`, not by serve.
      this.token = governance.tokens[downstream];
      this.proc = await startProcess(
        `mcp-warden serve (${downstream === 'stdio' ? 'stdio' : 'HTTP'} downstream)`,
        process.execPath,
        [...this.nodeFlags, BIN, 'serve', '--config', governance.files[downstream], '--port', '0'],
        { ready: GATEWAY_READY },
      );
      this.url = this.proc.match[1];
    },
    connect() {
      return openHttp(this.url, { authorization: `Bearer ${this.token}` });
    },
  });

  const targets = [
    {
      name: 'direct stdio',
      transport: 'stdio',
      ...direct,
      async start() {},
      connect: () => openStdio(process.execPath, [...echoArgs, '--stdio'], {}),
    },
    {
      name: 'direct HTTP',
      transport: 'http',
      ...direct,
      async start() {
        this.proc = await startEchoHttp('echo --http', echoArgs);
        this.url = this.proc.match[1];
      },
      connect() {
        return openHttp(this.url, {});
      },
    },
    {
      name: 'warden stdio→stdio',
      transport: 'stdio',
      ...governed,
      async start() {},
      connect() {
        return openStdio(process.execPath, [...this.nodeFlags, BIN, 'stdio', '--config', governance.files.stdio], {
          MCP_WARDEN_TOKEN: governance.tokens.stdio,
        });
      },
    },
    servedGateway('stdio'),
    servedGateway('http'),
  ];
  for (const target of targets) target.nodeFlags = [];
  if (peers) targets.push(...floorTargets(echoArgs, direct, governance.dir));
  if (peers && existsSync(MCP_PROXY)) {
    targets.push({
      name: 'mcp-proxy 6.7',
      transport: 'http',
      ...direct,
      peer: true,
      nodeFlags: [],
      async start() {
        const port = await freePort();
        this.proc = await startProcess('mcp-proxy', process.execPath, [
          MCP_PROXY,
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--server',
          'stream',
          '--',
          process.execPath,
          ...echoArgs,
          '--stdio',
        ]);
        this.url = `http://127.0.0.1:${port}/mcp`;
        await waitForMcp(this.url, this.proc);
      },
      connect() {
        return openHttp(this.url, {});
      },
    });
  }
  if (peers && existsSync(SUPERGATEWAY)) {
    targets.push({
      name: 'supergateway 4.0',
      transport: 'http',
      ...direct,
      peer: true,
      nodeFlags: [],
      async start() {
        const port = await freePort();
        const command = [process.execPath, ...echoArgs, '--stdio'].join(' ');
        this.proc = await startProcess('supergateway', process.execPath, [
          SUPERGATEWAY,
          '--stdio',
          command,
          '--outputTransport',
          'streamableHttp',
          '--stateful',
          '--port',
          String(port),
          '--logLevel',
          'none',
        ]);
        this.url = `http://127.0.0.1:${port}/mcp`;
        await waitForMcp(this.url, this.proc);
      },
      connect() {
        return openHttp(this.url, {});
      },
    });
  }
  return targets;
}

/** The echo server in its own Streamable HTTP mode, started and ready (its URL is `match[1]`). */
function startEchoHttp(name, echoArgs) {
  return startProcess(name, process.execPath, [...echoArgs, '--http', '--port', '0'], { ready: ECHO_READY });
}

/**
 * The floors: bench/servers/relay.mjs in front of the same echo server, with no governance. What one
 * more hop costs on this machine, measured in the same run (see the relay's header).
 */
function floorTargets(echoArgs, direct, runDir) {
  return [
    {
      name: 'floor: relay HTTP→HTTP',
      transport: 'http',
      ...direct,
      floor: true,
      nodeFlags: [],
      async start() {
        this.echo = await startEchoHttp('echo --http (behind the relay)', echoArgs);
        this.proc = await startProcess(
          'relay --http',
          process.execPath,
          [RELAY, '--http', '--port', '0', '--to', this.echo.match[1], '--run', runDir],
          {
            ready: RELAY_READY,
          },
        );
        this.url = this.proc.match[1];
      },
      connect() {
        return openHttp(this.url, {});
      },
    },
    {
      name: 'floor: relay stdio→stdio',
      transport: 'stdio',
      ...direct,
      floor: true,
      nodeFlags: [],
      async start() {},
      connect: () =>
        openStdio(process.execPath, [RELAY, '--stdio', '--', process.execPath, ...echoArgs, '--stdio'], {}),
    },
  ];
}
