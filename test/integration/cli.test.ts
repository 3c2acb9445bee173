// The mcp-warden command line as a user and an agent host run it: the compiled bin in a child process,
// checking exit codes, what goes to stdout and what goes to stderr.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, FIXTURE, connectHttp, fixtureServer, writeConfig } from '../helpers/gateway.js';
import { HANG_GUARD_MS, makeTempDir, waitFor, waitForExit, type TempDir } from '../helpers/process.js';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (bounded by a deadline) and captures both streams. */
function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `mcp-warden ${args.join(' ')} did not exit within ${options.timeoutMs ?? HANG_GUARD_MS} ms\nstderr:\n${stderr}`,
        ),
      );
    }, options.timeoutMs ?? HANG_GUARD_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * `mcp-warden --help`, run once, synchronously, when the file is collected: its command list makes one
 * test per command, and the --help test checks the same run.
 */
function topLevelHelp(): { result: CliResult; commands: string[] } {
  const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8', timeout: HANG_GUARD_MS });
  const section = help.stdout.split('Commands:\n')[1]?.split('\n\n')[0] ?? '';
  const commands = section
    .split('\n')
    .map((line) => /^\s+([a-z][a-z-]*)\s/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
  return { result: { code: help.status, stdout: help.stdout, stderr: help.stderr }, commands };
}

const READY = /^mcp-warden listening on http:\/\/127\.0\.0\.1:(\d+)\/mcp$/;

/** `mcp-warden ARGS` as a long-running child: everything it writes is kept, so a test can check all of stdout. */
function spawnGateway(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out.stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const readyLine = () =>
    waitFor(() => (out.stdout.includes('\n') ? out.stdout.split('\n')[0] : undefined), 'the ready line');
  return { child, out, exited, readyLine };
}

describe('mcp-warden CLI', () => {
  const { result: help, commands } = topLevelHelp();

  it('--help prints usage and every command to stdout, exit 0', () => {
    const result = help;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: mcp-warden [global options] <command> [options]');
    expect(result.stdout).toContain('--config FILE');
    expect(result.stdout).toContain('--data-dir DIR');
    expect(result.stderr).toBe('');
    expect(commands).toEqual(expect.arrayContaining(['serve', 'stdio', 'config']));
  });

  it.each(commands)('%s --help prints its usage and the global options to stdout, exit 0', async (command) => {
    const result = await runCli([command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`mcp-warden ${command}`);
    expect(result.stdout).toContain('--config FILE');
    expect(result.stderr).toBe('');
    // `help <command>` says the same.
    expect((await runCli(['help', command])).stdout).toBe(result.stdout);
  });

  it.each([
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['no command', [], /Usage: mcp-warden/],
    [
      'an unknown option',
      ['serve', '--frobnicate'],
      /mcp-warden serve: .*frobnicate[\s\S]*Run "mcp-warden serve --help"/,
    ],
    ['a bad port', ['serve', '--port', 'eighty'], /--port must be 0-65535, got "eighty"/],
    ['a bad config subcommand', ['config', 'lint'], /usage: mcp-warden config check \[FILE\] \[--probe\]/],
  ])('%s is a usage error: exit 2, message on stderr, nothing on stdout', async (_name, args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('--version prints the version', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  describe('config check', () => {
    let valid: { dir: TempDir; file: string };
    let invalid: { dir: TempDir; file: string };

    beforeAll(async () => {
      valid = await writeConfig({ servers: { fixture: fixtureServer(), off: fixtureServer({ enabled: false }) } });
      invalid = await writeConfig({
        servers: { github: { transport: 'http', url: 'http://api.github.com/mcp' }, Bad: fixtureServer() },
      });
    });

    afterAll(async () => {
      await valid?.dir.cleanup();
      await invalid?.dir.cleanup();
    });

    it.each([
      ['a positional file', (file: string) => ['config', 'check', file]],
      ['--config', (file: string) => ['--config', file, 'config', 'check']],
    ])('a valid file (%s): exit 0 with a summary on stdout, starting nothing', async (_how, args) => {
      const result = await runCli(args(valid.file));
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`${valid.file}: valid`);
      expect(result.stdout).toContain('servers: 2 (1 enabled)');
      expect(result.stdout).toContain(`data folder: ${join(valid.dir.path, 'data')}`);
      expect(result.stderr).toBe('');
      expect(existsSync(join(valid.dir.path, 'data'))).toBe(false);
    });

    it('an invalid file: exit 2, every problem on stderr named by file and JSON path', async () => {
      const result = await runCli(['config', 'check', invalid.file]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        'mcp.config.json: servers.github.url: must be an https URL (loopback may use http)',
      );
      expect(result.stderr).toContain('mcp.config.json: servers.Bad: server ids must match');
      expect(result.stdout).toBe('');
    });

    it('a missing file: exit 2, naming it', async () => {
      const missing = join(valid.dir.path, 'nope.json');
      const result = await runCli(['config', 'check', missing]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${missing}: no such file`);
    });

    // --probe starts and asks the real servers, as serve's start-up probe does (the fixture lists
    // test://static-text and friends and the template test://template/{id}/data).
    it('--probe: the same server over stdio and launched http is valid; the shadowed URIs and template are named with their winner', async () => {
      const { dir, file } = await writeConfig({
        servers: {
          first: fixtureServer(),
          second: {
            transport: 'http',
            url: 'http://127.0.0.1:0/mcp',
            launch: { command: 'node', args: [FIXTURE, '--http'] },
          },
        },
      });
      try {
        const result = await runCli(['config', 'check', file, '--probe']);
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(result.stdout).toContain(`${file}: valid`);
        expect(result.stdout).toMatch(
          /^ {4}first {2}\d+ tools, \d+ prompts, [1-9]\d* resources, 1 resource templates$/m,
        );
        expect(result.stdout).toContain(
          "  resource: resource test://static-text is also listed by first, which comes first in the config: reads go to first, and second's is not offered (the first server in config order wins)",
        );
        expect(result.stdout).toContain(
          "  resource: resource template test://template/{id}/data is also offered by first, which comes first in the config: URIs it matches go to first, and second's is not offered",
        );
      } finally {
        await dir.cleanup();
      }
    });

    it('--probe: two unprefixed servers offering the same tool names are a name collision: exit 2, named', async () => {
      const { dir, file } = await writeConfig({
        servers: { one: fixtureServer({ prefix: false }), two: fixtureServer({ prefix: false }) },
      });
      try {
        const result = await runCli(['config', 'check', file, '--probe']);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(
          /mcp\.config\.json: servers\.two: name collision: tool fixture_pid is also exposed by one \(give them distinct prefixes\)/,
        );
        expect(result.stderr).toMatch(/problems?; the gateway would not start/);
        // Without --probe nothing is started, and the same file is only noted.
        const plain = await runCli(['config', 'check', file]);
        expect(plain.code).toBe(0);
        expect(plain.stdout).toContain('note: servers one, two are unprefixed');
      } finally {
        await dir.cleanup();
      }
    });
  });

  describe('serve', () => {
    it('refuses to start without an auth section: exit 2, clear message, nothing spawned', async () => {
      const { dir, file } = await writeConfig({ auth: null, servers: { fixture: fixtureServer() } });
      try {
        const result = await runCli(['serve', '--config', file, '--port', '0']);
        expect(result.code).toBe(2);
        expect(result.stderr).toContain('no "auth" section');
        expect(result.stderr).toContain('"auth": {"mode": "unauthenticated-local"}');
        expect(result.stdout).toBe('');
        expect(existsSync(join(dir.path, 'data'))).toBe(false);
      } finally {
        await dir.cleanup();
      }
    });

    it.each([
      ['--host 0.0.0.0', {}, ['--host', '0.0.0.0']],
      ['--host ::', {}, ['--host', '::']],
      ['gateway.host 0.0.0.0 in the config', { host: '0.0.0.0' }, []],
    ])('refuses unauthenticated-local mode off loopback (%s): exit 2', async (_name, gateway, flags) => {
      const { dir, file } = await writeConfig({ gateway, servers: { fixture: fixtureServer() } });
      try {
        const result = await runCli(['serve', '--config', file, '--port', '0', ...flags]);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(/refusing to serve unauthenticated-local mode on non-loopback address/);
        expect(result.stdout).toBe('');
      } finally {
        await dir.cleanup();
      }
    });

    it('a busy port is a runtime failure: exit 1, and the downstream it launched is not left behind', async () => {
      // The port another process holds: a socket this test listens on.
      const holder = createServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      const port = String((holder.address() as AddressInfo).port);
      // A launched server that, unlike the bundled ones, does not watch its stdin for the supervisor going away.
      const second = await writeConfig({
        servers: {
          plain: {
            transport: 'http',
            url: 'http://127.0.0.1:0/mcp',
            launch: { command: 'node', args: ['./plain-server.mjs'] },
          },
        },
      });
      await writeFile(
        join(second.dir.path, 'plain-server.mjs'),
        "import { createServer } from 'node:http';\ncreateServer((req, res) => res.writeHead(404).end()).listen(Number(process.env.PORT), '127.0.0.1');\n",
      );
      try {
        const result = await runCli(['serve', '--config', second.file, '--port', port]);
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/the gateway cannot listen on 127\.0\.0\.1:\d+: the address is already in use/);
        expect(result.stdout).toBe('');
        const launched = result.stderr
          .split('\n')
          .map((l) => (l.startsWith('{') ? (JSON.parse(l) as { msg?: string; pid?: number }) : {}))
          .find((record) => record.msg === 'launched downstream is ready');
        expect(launched?.pid, result.stderr).toEqual(expect.any(Number));
        await waitForExit(launched!.pid!);
      } finally {
        await new Promise((resolve) => holder.close(resolve));
        await second.dir.cleanup();
      }
    });
  });

  // One gateway, started as a user would from another folder with a relative --config, for the path test
  // and then the --port 0 test, which stops it with SIGTERM: that one runs last. Debug logs on, so the
  // gateway has much to log, none of which may reach stdout.
  describe('serve --port 0 from another working directory with a relative --config', () => {
    let root: TempDir;
    let configDir: string;
    let elsewhere: string;
    let gateway: ReturnType<typeof spawnGateway>;

    beforeAll(async () => {
      root = await makeTempDir('warden-cli-paths');
      configDir = join(root.path, 'conf');
      elsewhere = join(root.path, 'elsewhere');
      await mkdir(configDir);
      await mkdir(elsewhere);
      const config = {
        version: 1,
        dataDir: './state',
        auth: { mode: 'unauthenticated-local', subject: 'cli-test' },
        servers: { fixture: { transport: 'stdio', command: 'node', args: [relative(configDir, FIXTURE), '--stdio'] } },
      };
      expect(config.servers.fixture.args[0]).toMatch(/^\.\.\//);
      await writeFile(join(configDir, 'mcp.config.json'), JSON.stringify(config));
      gateway = spawnGateway(['serve', '--config', '../conf/mcp.config.json', '--port', '0'], {
        cwd: elsewhere,
        env: { ...process.env, MCP_WARDEN_LOG_LEVEL: 'debug' },
      });
    });

    afterAll(async () => {
      gateway?.child.kill('SIGTERM');
      await gateway?.exited;
      await root?.cleanup();
    });

    it("the stdio server's relative args and dataDir resolve against the config, not the working directory", async () => {
      const { out, readyLine } = gateway;
      const line = await readyLine();
      const { client } = await connectHttp(line.replace('mcp-warden listening on ', ''));
      const result = (await client.callTool({ name: 'fixture__fixture_pid', arguments: {} })) as CallToolResult;
      expect(result.isError, out.stderr).toBeFalsy();
      expect((result.structuredContent as { pid: number }).pid).toBeGreaterThan(0);
      await client.close();
      expect(existsSync(join(configDir, 'state'))).toBe(true);
      expect(existsSync(join(elsewhere, 'state'))).toBe(false);
      expect(dirname(FIXTURE)).not.toBe(configDir);
    });

    it('--port 0: exactly one stdout line, logs only on stderr, exit 0 on SIGTERM', async () => {
      const { child, out, exited, readyLine } = gateway;
      try {
        const line = await readyLine();
        const port = READY.exec(line)?.[1];
        expect(port, line).toBeDefined();
        expect(Number(port)).toBeGreaterThan(0);

        // Traffic makes the gateway log; none of it may reach stdout.
        const { client } = await connectHttp(`http://127.0.0.1:${port}/mcp`);
        const result = (await client.callTool({ name: 'fixture__fixture_pid', arguments: {} })) as CallToolResult;
        expect(result.isError).toBeFalsy();
        await client.close();
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
      expect(out.stdout).toMatch(/^mcp-warden listening on http:\/\/127\.0\.0\.1:\d+\/mcp\n$/);
      const lines = out.stderr.split('\n').filter((l) => l.length > 0);
      expect(lines.length).toBeGreaterThan(0);
      // stderr is not a terminal here, so every line is a JSON log record.
      for (const l of lines) expect(() => JSON.parse(l) as unknown, l).not.toThrow();
      expect(out.stderr).toContain('UNAUTHENTICATED LOCAL MODE');
    });
  });
});
