#!/usr/bin/env node
// The bundled demo tickets server: MCP over Streamable HTTP on 127.0.0.1, bearer token required.
//   node dist/servers/tickets/main.js [--port N] [--data FILE]
// Env: PORT, TICKETS_TOKEN | MCP_WARDEN_DOWNSTREAM_TOKEN, TICKETS_JWKS_URL | TICKETS_JWKS_FILE | MCP_WARDEN_JWKS_FILE, TICKETS_AUDIENCE,
//      TICKETS_ISSUER, MCP_WARDEN_SUPERVISED=1 (exit when stdin reaches EOF).
// stdout carries exactly one line, once listening: `tickets listening on http://127.0.0.1:PORT/mcp`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { authConfigFromEnv, createAuthenticator } from './auth.js';
import { createMcpHttpHandler, MCP_PATH } from './http.js';
import { createTicketsServer } from './server.js';
import { TicketStore } from './store.js';

const HOST = '127.0.0.1';
const USAGE = 'usage: tickets [--port N] [--data FILE]';

function log(message: string): void {
  process.stderr.write(`tickets: ${message}\n`);
}

function fail(message: string): never {
  log(`${message}\n${USAGE}`);
  process.exit(2);
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65_535) fail(`invalid port ${JSON.stringify(value)}: use 0-65535`);
  return Number(value);
}

function main(): void {
  let values: { port?: string | undefined; data?: string | undefined };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { port: { type: 'string' }, data: { type: 'string' } },
      strict: true,
    }));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const port = parsePort(values.port ?? process.env['PORT']);

  let authenticate;
  let store: TicketStore;
  try {
    authenticate = createAuthenticator(authConfigFromEnv(process.env));
    store = TicketStore.open(values.data);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }

  let boundPort = port;
  const handler = createMcpHttpHandler({
    port: () => boundPort,
    authenticate,
    newServer: () => createTicketsServer(store, log),
    log,
  });
  const http: Server = createServer({ requestTimeout: 60_000, headersTimeout: 10_000 }, handler.handle);

  let closing = false;
  const shutdown = (reason: string): void => {
    if (closing) return;
    closing = true;
    log(`shutting down (${reason})`);
    http.close();
    handler
      .close()
      .catch((error: unknown) => log(`close failed: ${String(error)}`))
      .finally(() => {
        http.closeAllConnections();
        process.exit(0);
      });
  };

  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  if (process.env['MCP_WARDEN_SUPERVISED'] === '1') {
    // The gateway holds our stdin open; EOF means it has gone, so we go too.
    process.stdin.once('end', () => shutdown('stdin closed (supervisor gone)'));
    process.stdin.once('close', () => shutdown('stdin closed (supervisor gone)'));
    process.stdin.on('error', () => shutdown('stdin error (supervisor gone)'));
    process.stdin.resume();
  }

  http.on('error', (error) => fail(`cannot listen on ${HOST}:${port}: ${error.message}`));
  http.listen(port, HOST, () => {
    boundPort = (http.address() as AddressInfo).port;
    process.stdout.write(`tickets listening on http://${HOST}:${boundPort}${MCP_PATH}\n`);
  });
}

main();
