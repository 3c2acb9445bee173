// What a start of the CLI loads: each command imports only the modules its path uses (docs/performance.md,
// "Start-up"), so a refused start, a stdio gateway or a short command does not pay for the whole gateway.
// The compiled bin runs with a module hook that writes every ES module URL it loads to a file; no timing.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, writeConfig } from '../helpers/gateway.js';
import { HANG_GUARD_MS, makeTempDir, type TempDir } from '../helpers/process.js';

const HOOKS = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.RECORD_IMPORTS, url + '\\n');
  return next(url, context);
}
`;

let dir: TempDir;
let register: string;
let runs = 0;

beforeAll(async () => {
  dir = await makeTempDir('warden-startup-imports');
  const hooks = join(dir.path, 'hooks.mjs');
  await writeFile(hooks, HOOKS);
  register = join(dir.path, 'register.mjs');
  await writeFile(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
});

afterAll(async () => {
  await dir.cleanup();
});

interface Started {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Every ES module URL the process loaded, relative to node_modules/ or the checkout's dist/. */
  modules: string[];
}

/** Runs the bin with the hook; `input` is written to its stdin, which ends once `until` matches stdout. */
function start(
  args: string[],
  options: { input?: string; until?: RegExp; env?: Record<string, string> } = {},
): Promise<Started> {
  runs += 1;
  const record = join(dir.path, `imports-${runs}.txt`);
  const child = spawn(process.execPath, ['--import', register, BIN, ...args], {
    env: { ...process.env, ...options.env, RECORD_IMPORTS: record },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (options.until?.test(stdout)) child.stdin.end();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  if (options.input !== undefined) child.stdin.write(options.input);
  if (options.until === undefined) child.stdin.end();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mcp-warden ${args.join(' ')} did not exit\nstderr:\n${stderr}`));
    }, HANG_GUARD_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      const modules = readFileSync(record, 'utf8')
        .split('\n')
        .filter((url) => url.startsWith('file:'))
        .map((url) =>
          url.includes('/node_modules/') ? url.replace(/^.*\/node_modules\//, '') : url.replace(/^.*\/dist\//, 'dist/'),
        );
      resolve({ code, stdout, stderr, modules });
    });
  });
}

const from = (modules: string[], prefix: string) => modules.filter((m) => m.startsWith(prefix));

describe('what a start loads', () => {
  it('a serve refused for its config loads the config, not the gateway, the SDK or the stores', async () => {
    const { file } = await writeConfig({ servers: {}, gateway: { port: 'eighty' } });
    const run = await start(['serve', '--config', file]);
    expect(run.stderr).toMatch(/gateway\.port/);
    expect(run.code).toBe(2);
    expect(run.modules).toContain('dist/src/config/load.js');
    expect(from(run.modules, 'dist/src/gateway/')).toEqual([]);
    expect(from(run.modules, '@modelcontextprotocol/')).toEqual([]);
    expect(from(run.modules, 'better-sqlite3/')).toEqual([]);
  });

  it('a serve refused for a missing auth section, or unauthenticated on a public address, loads no gateway', async () => {
    const { file } = await writeConfig({ servers: {}, auth: null });
    const noAuth = await start(['serve', '--config', file]);
    expect(noAuth.stderr).toMatch(/no "auth" section/);
    expect(noAuth.code).toBe(2);
    expect(from(noAuth.modules, 'dist/src/gateway/')).toEqual([]);
    const local = await writeConfig({ servers: {} });
    const exposed = await start(['serve', '--host', '0.0.0.0', '--config', local.file]);
    expect(exposed.stderr).toMatch(/refusing to serve unauthenticated-local mode on non-loopback address 0\.0\.0\.0/);
    expect(exposed.code).toBe(2);
    expect(from(exposed.modules, 'dist/src/gateway/')).toEqual([]);
  });

  it('token issue signs without the whole of jose; a stdio gateway answers without the HTTP ingress; audit list reads without jose', async () => {
    const { file } = await writeConfig({
      servers: {},
      auth: { mode: 'jwt', resource: 'http://gateway.test/mcp', builtin: {} },
    });
    const issued = await start(['token', 'issue', '--sub', 'agent:imports', '--config', file]);
    expect(issued.code).toBe(0);
    expect(issued.stdout).toMatch(/^ey/);
    expect(issued.modules).toContain('jose/dist/webapi/jwt/sign.js');
    expect(issued.modules).not.toContain('jose/dist/webapi/index.js');

    const initialize = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'imports', version: '1' } },
    };
    const stdio = await start(['stdio', '--config', file], {
      input: `${JSON.stringify(initialize)}\n`,
      until: /"id":1[,}]/,
      env: { MCP_WARDEN_TOKEN: issued.stdout.trim() },
    });
    expect(stdio.stdout).toMatch(/"protocolVersion":"2025-06-18"/);
    expect(stdio.modules).toContain('dist/src/gateway/gateway.js');
    expect(stdio.modules).toContain('jose/dist/webapi/jwt/verify.js');
    expect(stdio.modules).not.toContain('jose/dist/webapi/index.js');
    expect(stdio.modules).not.toContain('dist/src/ingress/http.js');
    expect(from(stdio.modules, '@hono/')).toEqual([]);
    expect(stdio.modules).not.toContain('@modelcontextprotocol/sdk/dist/esm/client/streamableHttp.js');
    expect(stdio.modules).not.toContain('@modelcontextprotocol/sdk/dist/esm/client/sse.js');

    // The stdio gateway wrote the audit log (its start, the agent's session): listed without jose.
    const listed = await start(['audit', 'list', '--events', '--config', file]);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/config\.load/);
    expect(from(listed.modules, 'jose/')).toEqual([]);
  });

  it('console login prints its link without loading the console server', async () => {
    const { dir: policyDir, file } = await writeConfig({ servers: {} });
    const policyFile = join(policyDir.path, 'policy.yaml');
    await writeFile(policyFile, 'version: 1\nagents: []\nreviewers:\n  - { subject: alice }\n');
    await writeFile(
      file,
      JSON.stringify({ ...(JSON.parse(readFileSync(file, 'utf8')) as object), policy: { files: [policyFile] } }),
    );
    const login = await start(['console', 'login', '--sub', 'alice', '--config', file]);
    expect(login.stderr).toMatch(/one-time sign-in link for alice/);
    expect(login.code).toBe(0);
    expect(login.stdout).toMatch(/#login=/);
    expect(login.modules).toContain('dist/src/console/info.js');
    expect(login.modules).not.toContain('dist/src/console/server.js');
    expect(from(login.modules, 'ws/')).toEqual([]);
  });
});
