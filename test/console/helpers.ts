// The reviewer console under test: a real `serve` gateway with its console listener, the real CLI for
// sign-in links, and raw HTTP so Host, Origin, Cookie and CSRF headers are exactly what each test says.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { runCli, runCliAsync } from '../helpers/cli.js';
import { FIXTURE, startGateway, type RunningGateway } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';

export const CONSOLE_POLICY = `version: 1
agents:
  - id: everyone
    match: {}
    grants:
      - { id: fx-text, effect: allow, tools: [fx__test_simple_text] }
reviewers:
  - { subject: alice, description: on-call reviewer }
`;

export interface ConsoleGateway {
  gateway: RunningGateway;
  /** http://127.0.0.1:PORT (the console's origin, no trailing slash). */
  origin: string;
  dataDir: string;
  policyDir: TempDir;
  policyFile: string;
  stop(): Promise<void>;
}

/** `serve` with `console.enabled` on a free port; the console's URL is read from <dataDir>/console.json. */
export async function startConsoleGateway(
  options: { policy?: string; servers?: Record<string, unknown>; config?: Record<string, unknown> } = {},
): Promise<ConsoleGateway> {
  const policyDir = await makeTempDir('warden-console-policy');
  const policyFile = join(policyDir.path, 'policy.yaml');
  await writeFile(policyFile, options.policy ?? CONSOLE_POLICY);
  const gateway = await startGateway({
    policy: { files: [policyFile] },
    console: { enabled: true, port: 0 },
    servers: options.servers ?? { fx: { transport: 'stdio', command: 'node', args: [FIXTURE, '--stdio'] } },
    ...options.config,
  });
  const dataDir = join(gateway.dir.path, 'data');
  const info = JSON.parse(readFileSync(join(dataDir, 'console.json'), 'utf8')) as { url: string };
  return {
    gateway,
    origin: new URL(info.url).origin,
    dataDir,
    policyDir,
    policyFile,
    async stop() {
      await gateway.stop();
      await policyDir.cleanup();
    },
  };
}

/** `mcp-warden console login --sub SUBJECT` through the real CLI; returns the code from the link's fragment. */
export function loginCode(configFile: string, subject: string, extra: string[] = []): string {
  return codeOf(runCli(configFile, ['console', 'login', '--sub', subject, ...extra]));
}

/**
 * `loginCode` without blocking this process while the CLI runs: for a test whose process also serves
 * something the CLI reaches (a TCP proxy in front of PostgreSQL).
 */
export async function loginCodeAsync(configFile: string, subject: string): Promise<string> {
  return codeOf(await runCliAsync(configFile, ['console', 'login', '--sub', subject]));
}

function codeOf(result: { code: number | null; stdout: string; stderr: string }): string {
  expect(result.stderr).not.toMatch(/unexpected error/);
  expect(result.code, result.stderr).toBe(0);
  const link = new URL(result.stdout.trim());
  const match = /^#login=([A-Za-z0-9_-]+)$/.exec(link.hash);
  expect(match).not.toBeNull();
  return match![1]!;
}

export interface ConsoleRequest {
  method?: string;
  path: string;
  body?: unknown;
  cookie?: string;
  csrf?: string;
  /** Default: the console's own origin on POST, none on GET. `null`: send no Origin. */
  origin?: string | null;
  host?: string;
}

export interface ConsoleResponse extends RawResponse {
  json: Record<string, unknown>;
}

export async function consoleRequest(origin: string, input: ConsoleRequest): Promise<ConsoleResponse> {
  const method = input.method ?? (input.body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = { host: input.host ?? new URL(origin).host, accept: 'application/json' };
  const sendOrigin = input.origin === undefined ? (method === 'POST' ? origin : undefined) : input.origin;
  if (sendOrigin !== undefined && sendOrigin !== null) headers.origin = sendOrigin;
  if (input.cookie !== undefined) headers.cookie = input.cookie;
  if (input.csrf !== undefined) headers['x-csrf-token'] = input.csrf;
  let body: string | undefined;
  if (input.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof input.body === 'string' ? input.body : JSON.stringify(input.body);
  }
  const response = await rawRequest(origin, { method, path: input.path, headers, ...(body !== undefined && { body }) });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(response.text) as Record<string, unknown>;
  } catch {
    // not JSON (static assets)
  }
  return { ...response, json };
}

export interface SignedIn {
  cookie: string;
  csrf: string;
  setCookie: string;
}

/** Posts a code to /api/login as the page does; fails the test unless a session cookie came back. */
export async function signIn(origin: string, code: string): Promise<SignedIn> {
  const response = await consoleRequest(origin, { path: '/api/login', body: { code } });
  expect(response.status, response.text).toBe(200);
  const setCookie = String(response.headers['set-cookie']?.[0] ?? '');
  const cookie = setCookie.split(';')[0]!;
  return { cookie, csrf: String(response.json.csrf), setCookie };
}
