// The first hour of a new user and an agent host, followed with the real command: a fresh folder with
// nothing but a config, the README's token command, and what start-up says when something is in the way.
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, NOTES, ROOT, connectHttp, launchedFixtureServer, startGateway, writeConfig } from '../helpers/gateway.js';
import { makeTempDir, runToExit, spawnReady, waitFor, waitForExit, type TempDir } from '../helpers/process.js';

const temps: TempDir[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((dir) => dir.cleanup()));
});

/** A folder holding only a config with the built-in issuer, as on a fresh clone (no `.warden/` yet). */
async function freshFolder(
  extra: Record<string, unknown> = {},
): Promise<{ dir: string; config: string; dataDir: string }> {
  const temp = await makeTempDir('warden-first-hour');
  temps.push(temp);
  const config = join(temp.path, 'mcp.config.json');
  const body = {
    version: 1,
    dataDir: './.warden',
    auth: { mode: 'jwt', builtin: {}, maxTokenLifetimeSeconds: 3600 },
    servers: {},
    ...extra,
  };
  await writeFile(config, JSON.stringify(body, null, 2));
  return { dir: temp.path, config, dataDir: join(temp.path, '.warden') };
}

function warden(args: string[]) {
  return runToExit(process.execPath, [BIN, ...args]);
}

function claimsOf(token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('token issue on a fresh clone', () => {
  it('creates the data folder and the first signing key, says so on stderr, and prints the token', async () => {
    const { config, dataDir } = await freshFolder();
    expect(existsSync(dataDir)).toBe(false);
    const result = await warden(['token', 'issue', '--sub', 'agent:claude-desktop', '--config', config]);
    expect(result.stderr).toContain(`created the data folder ${dataDir}`);
    expect(result.stderr).toMatch(/created the first signing key \S+ in .*signing-keys\.json \(mode 0600\)/);
    expect(result.code).toBe(0);
    expect(claimsOf(result.stdout.trim()).sub).toBe('agent:claude-desktop');
    expect(statSync(join(dataDir, 'keys', 'signing-keys.json')).mode & 0o777).toBe(0o600);

    // The second time there is nothing to create, and nothing is said about it.
    const again = await warden(['token', 'issue', '--sub', 'agent:claude-desktop', '--config', config]);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('created');
  });

  it('--out FILE writes the token with mode 0600 into the new data folder, and nothing to stdout', async () => {
    const { config, dataDir } = await freshFolder();
    const out = join(dataDir, 'agent.token');
    const result = await warden([
      'token',
      'issue',
      '--sub',
      'agent:claude-desktop',
      '--ttl',
      '1h',
      '--claude-desktop',
      '--out',
      out,
      '--config',
      config,
    ]);
    expect(result.stderr).not.toMatch(/unexpected error/);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`written to ${out} (mode 0600)`);
    expect(result.stderr).toMatch(new RegExp(`"--token-file",\\s+"${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(claimsOf((await readFile(out, 'utf8')).trim()).sub).toBe('agent:claude-desktop');
  });

  it('--out replaces a readable token file with a private one, and a failed issue leaves no file and the old one intact', async () => {
    const { config, dir } = await freshFolder();
    const out = join(dir, 'agent.token');
    const failed = await warden([
      'token',
      'issue',
      '--sub',
      'agent:a',
      '--ttl',
      '5h',
      '--out',
      out,
      '--config',
      config,
    ]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(/ttl|lifetime/i);
    expect(existsSync(out)).toBe(false);

    await writeFile(out, 'old token\n');
    await chmod(out, 0o644);
    const again = await warden(['token', 'issue', '--sub', 'agent:a', '--ttl', '5h', '--out', out, '--config', config]);
    expect(again.code).not.toBe(0);
    expect(await readFile(out, 'utf8')).toBe('old token\n');

    const ok = await warden(['token', 'issue', '--sub', 'agent:a', '--out', out, '--config', config]);
    expect(ok.code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(claimsOf((await readFile(out, 'utf8')).trim()).sub).toBe('agent:a');
  });
});

describe('npm start builds only when a source is newer than the last build', () => {
  const SCRIPT = join(ROOT, 'scripts/build-if-stale.mjs');

  /** A tiny project with the repo's layout: tsconfig.build.json including src/. */
  async function tinyProject(): Promise<string> {
    const temp = await makeTempDir('warden-build-stamp');
    temps.push(temp);
    await mkdir(join(temp.path, 'src'));
    await writeFile(
      join(temp.path, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { outDir: 'dist', rootDir: '.', module: 'NodeNext', target: 'ES2022', types: [] },
      }),
    );
    await writeFile(
      join(temp.path, 'tsconfig.build.json'),
      JSON.stringify({ extends: './tsconfig.json', include: ['src'] }),
    );
    await writeFile(join(temp.path, 'package.json'), '{"type":"module"}');
    await writeFile(join(temp.path, 'src/a.ts'), 'export const a: number = 1;\n');
    return temp.path;
  }

  it('runs tsc on the first start and after a change, and not when dist is up to date', async () => {
    const root = await tinyProject();
    const build = (...args: string[]) =>
      runToExit(process.execPath, [SCRIPT, '--root', root, ...args], { timeoutMs: 120_000 });
    const output = join(root, 'dist/src/a.js');

    const first = await build();
    expect(first.stderr).toContain('running tsc');
    expect(first.code).toBe(0);
    expect(await readFile(output, 'utf8')).toContain('export const a = 1');

    const second = await build();
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('up to date');

    // An edit (its time set past the stamp, independent of the file system's clock resolution) builds again.
    await writeFile(join(root, 'src/a.ts'), 'export const a: number = 2;\n');
    const later = new Date(Date.now() + 5_000);
    await utimes(join(root, 'src/a.ts'), later, later);
    const third = await build('--check');
    expect(third.stderr).toContain('a build is due');
    expect(third.code).toBe(1);
  }, 150_000);
});

describe('the start-up probe of a stdio server', () => {
  const notes = (dir: string) => ({
    notes: { transport: 'stdio', command: 'node', args: [NOTES, '--dir', join(dir, 'notes')] },
  });

  it('does not log the server\'s "shutting down (stdin closed)" at info, only at debug', async () => {
    const temp = await makeTempDir('warden-probe');
    temps.push(temp);
    for (const level of ['info', 'debug']) {
      const { dir, file } = await writeConfig({ servers: notes(temp.path), logging: { level } });
      temps.push(dir);
      const gateway = await spawnReady(process.execPath, [BIN, 'serve', '--config', file, '--port', '0'], {
        readyPattern: /^mcp-warden listening on (http:\/\/\S+)$/,
        env: { MCP_WARDEN_LOG_LEVEL: undefined },
      });
      try {
        if (level === 'debug') {
          // The notes server says it on its way out after the probe: it is there, at debug (20).
          const line = await waitFor(
            () =>
              gateway
                .stderr()
                .split('\n')
                .find((l) => l.includes('stdin closed')),
            "the probe's shutdown line",
          );
          expect(JSON.parse(line)).toMatchObject({ level: 20, server: 'notes', msg: 'downstream stderr' });
        }
      } finally {
        await gateway.stop();
      }
      if (level === 'info') expect(gateway.stderr()).not.toContain('stdin closed');
    }
  });
});

describe('the MCP Inspector commands a newcomer copies', () => {
  it('bring their own Node 22 in the README and in serve --demo, since no Inspector runs on Node 20', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const demo = await readFile(join(ROOT, 'src/cli/demo.ts'), 'utf8');
    for (const text of [readme, demo]) {
      const commands = text
        .split('\n')
        .filter((line) => /npx .*@modelcontextprotocol\/inspector@\d/.test(line) && !line.includes('…'));
      expect(commands.length).toBeGreaterThan(0);
      for (const line of commands)
        expect(line).toMatch(/npx -y -p node@22 -p @modelcontextprotocol\/inspector@[\d.]+ mcp-inspector/);
    }
  });
});

describe('start-up failures explain themselves', () => {
  /** A port some other process holds, for as long as the test runs. */
  async function busyPort(): Promise<{ port: number; release(): Promise<void> }> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { port, release: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  async function configWith(input: Parameters<typeof writeConfig>[0]): Promise<string> {
    const { dir, file } = await writeConfig(input);
    temps.push(dir);
    return file;
  }

  /** Runs serve to its end; the launched downstream it started (its pid is in the log) must be gone too. */
  async function failedServe(file: string, args: string[]) {
    const result = await runToExit(process.execPath, [BIN, 'serve', '--config', file, ...args], {
      timeoutMs: 60_000,
      env: { MCP_WARDEN_LOG_LEVEL: 'info' },
    });
    const launched = result.stderr.split('\n').filter((line) => line.includes('launched downstream is ready'));
    expect(launched).toHaveLength(1);
    const pid = (JSON.parse(launched[0]!) as { pid: number }).pid;
    await waitForExit(pid);
    const own = result.stderr.split('\n').filter((line) => line.startsWith('mcp-warden serve:'));
    expect(own).toHaveLength(1);
    expect(result.stderr).not.toMatch(/unexpected error|setupListenHandle|\n\s+at /);
    return { ...result, line: own[0]! };
  }

  it('a busy gateway port: one line naming the gateway, the address and --port; exit 1 with the downstream stopped', async () => {
    const busy = await busyPort();
    try {
      const file = await configWith({ servers: { fixture: launchedFixtureServer() } });
      const result = await failedServe(file, ['--port', String(busy.port)]);
      expect(result.code).toBe(1);
      expect(result.line).toBe(
        `mcp-warden serve: the gateway cannot listen on 127.0.0.1:${busy.port}: the address is already in use (another process listens there); pass another --port (--port 0 picks a free port)`,
      );
    } finally {
      await busy.release();
    }
  });

  it('a busy console port: one line naming the reviewer console, the address and console.port; exit 1', async () => {
    const busy = await busyPort();
    try {
      const file = await configWith({
        servers: { fixture: launchedFixtureServer() },
        console: { enabled: true, port: busy.port },
      });
      const result = await failedServe(file, ['--port', '0']);
      expect(result.code).toBe(1);
      expect(result.line).toContain(
        `the reviewer console cannot listen on 127.0.0.1:${busy.port}: the address is already in use`,
      );
      expect(result.line).toContain(`set console.port in ${file}`);
    } finally {
      await busy.release();
    }
  });

  it('serve --port 0 picks a free console port too unless one is configured, so two gateways run side by side', async () => {
    const file = await configWith({ servers: {}, console: { enabled: true } });
    const consoleLine = /reviewer console on (http:\/\/127\.0\.0\.1:(\d+)\/)/;
    const start = () =>
      spawnReady(process.execPath, [BIN, 'serve', '--config', file, '--port', '0'], {
        readyPattern: /^mcp-warden listening on (http:\/\/\S+)$/,
      });
    const first = await start();
    try {
      const second = await start();
      try {
        const ports = await Promise.all(
          [first, second].map((gateway) => waitFor(() => consoleLine.exec(gateway.stderr())?.[2], 'the console line')),
        );
        expect(ports[0]).not.toBe(ports[1]);
        expect(ports).not.toContain('8788');
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop();
    }
  });
});

describe('config check finds what would stop a start', () => {
  async function check(input: Parameters<typeof writeConfig>[0], files: Record<string, string> = {}) {
    const { dir, file } = await writeConfig(input);
    temps.push(dir);
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir.path, name), text, { mode: 0o755 });
    const result = await warden(['config', 'check', file]);
    return { ...result, dir: dir.path, file };
  }

  it('a missing policy file and a broken one: exit 2, each named, never "valid"', async () => {
    const missing = await check({ servers: {}, policy: { files: ['nope.yaml'] } });
    expect(missing.stdout).not.toContain('valid');
    expect(missing.stderr).toMatch(/nope\.yaml: no such file/);
    expect(missing.code).toBe(2);

    const broken = await check(
      { servers: {}, policy: { files: ['bad.yaml'] } },
      { 'bad.yaml': 'version: 1\nroles:\n  r:\n    grants:\n      - effect: sometimes\n' },
    );
    expect(broken.stdout).not.toContain('valid');
    expect(broken.stderr).toMatch(/bad\.yaml: roles\.r\.grants\[0\]/);
    expect(broken.code).toBe(2);
  });

  it('a stdio command not on PATH and a launched command that is not there: exit 2 naming each entry', async () => {
    const result = await check(
      {
        servers: {
          ghost: { transport: 'stdio', command: 'mcp-warden-no-such-command' },
          spawned: { transport: 'http', url: 'http://127.0.0.1:0/mcp', launch: { command: './not-here.sh' } },
          fine: { transport: 'stdio', command: './server.sh' },
          off: { transport: 'stdio', command: 'also-not-there', enabled: false },
        },
      },
      { 'server.sh': '#!/bin/sh\n' },
    );
    expect(result.stderr).toContain(
      'mcp.config.json: servers.ghost.command: "mcp-warden-no-such-command" is not found on PATH',
    );
    expect(result.stderr).toContain(
      `mcp.config.json: servers.spawned.launch.command: "./not-here.sh" (${join(result.dir, 'not-here.sh')}) is not an executable file`,
    );
    expect(result.stderr).not.toMatch(/servers\.(fine|off)/);
    expect(result.stdout).toBe('');
    expect(result.code).toBe(2);
  });

  it('the bundled config is valid with its policy, and unprefixed servers are pointed out', async () => {
    const bundled = await warden(['config', 'check', join(ROOT, 'mcp.config.json')]);
    expect(bundled.stderr).toBe('');
    expect(bundled.code).toBe(0);
    expect(bundled.stdout).toMatch(/policy: policy \S+: \d+ rules/);

    const unprefixed = await check({
      servers: {
        a: { transport: 'stdio', command: 'node', prefix: false },
        b: { transport: 'stdio', command: 'node', prefix: false },
      },
    });
    expect(unprefixed.code).toBe(0);
    expect(unprefixed.stdout).toContain('note: servers a, b are unprefixed');
  });
});

describe('config and policy errors a person can act on', () => {
  async function fileWith(name: string, text: string): Promise<string> {
    const temp = await makeTempDir('warden-errors');
    temps.push(temp);
    const file = join(temp.path, name);
    await writeFile(file, text);
    return file;
  }

  it('a JSON syntax error names the line and column and shows the line, not a character offset', async () => {
    const file = await fileWith(
      'mcp.config.json',
      '{\n  "version": 1,\n  "servers": {\n    "a": { "transport": "stdio", "command": "node" },\n  }\n}\n',
    );
    const result = await warden(['config', 'check', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).not.toMatch(/position \d+/);
    expect(result.stderr).toContain('mcp.config.json: not valid JSON at line 5, column 3:');
    expect(result.stderr).toContain('  5 |   }\n    |   ^\n');
  });

  it('a truncated JSON policy points at its last line', async () => {
    const file = await fileWith('team.json', '{"version": 1,\n "roles": {\n');
    const result = await warden(['policy', 'check', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('team.json: not valid JSON at line 2, column 12:');
    expect(result.stderr).toContain('  2 |  "roles": {\n    |            ^');
  });

  it('a YAML error shows its snippet instead of stopping at the colon', async () => {
    const file = await fileWith('team.yaml', 'version: 1\nroles:\n  r:\n    grants: [\n  a: b: c\n');
    const result = await warden(['policy', 'check', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/team\.yaml: not valid YAML: .* at line 5, column 3:\n/);
    expect(result.stderr).toContain('  a: b: c\n  ^');
  });

  it('a misspelt required field is reported as unknown beside the missing one', async () => {
    const file = await fileWith(
      'mcp.config.json',
      JSON.stringify({ version: 1, servers: { a: { transprot: 'stdio', command: 'node' } } }),
    );
    const result = await warden(['config', 'check', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'mcp.config.json: servers.a: unknown field "transprot" (did you mean "transport"?)',
    );
    expect(result.stderr).toContain(
      'mcp.config.json: servers.a.transport: missing; must be one of "stdio", "http", "sse"',
    );
  });
});

describe('npm test', () => {
  /**
   * Runs scripts/test.mjs from a copy of the project's layout whose vitest and conformance script are
   * stand-ins that exit as told. The stand-in vitest finishes only once the conformance stand-in has
   * started, so the run shows the two side by side.
   */
  async function npmTest(vitestExit: number, conformanceExit: number, args: string[] = []) {
    const temp = await makeTempDir('warden-npm-test');
    temps.push(temp);
    await mkdir(join(temp.path, 'scripts'));
    await mkdir(join(temp.path, 'node_modules', 'vitest'), { recursive: true });
    await writeFile(join(temp.path, 'scripts', 'test.mjs'), await readFile(join(ROOT, 'scripts', 'test.mjs')));
    const started = join(temp.path, 'conformance-started');
    await writeFile(
      join(temp.path, 'scripts', 'conformance.mjs'),
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(started)}, '');\n` +
        `console.log('conformance ran');\nprocess.exitCode = ${conformanceExit};\n`,
    );
    await writeFile(
      join(temp.path, 'node_modules', 'vitest', 'vitest.mjs'),
      `import { existsSync } from 'node:fs';\nconsole.log('vitest ran: ' + process.argv.slice(2).join(' '));\n` +
        `const wait = ${JSON.stringify(args.length === 0)};\n` +
        `const timer = setInterval(() => { if (!wait || existsSync(${JSON.stringify(started)})) { clearInterval(timer); process.exitCode = ${vitestExit}; } }, 10);\n`,
    );
    const scripts = (
      JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts;
    const result = await runToExit(process.execPath, [join(temp.path, 'scripts', 'test.mjs'), ...args], {});
    return { ...result, scripts, conformanceStarted: existsSync(started) };
  }

  it('runs the conformance suite beside vitest, reports it even when vitest fails, and fails if either does', async () => {
    const vitestFails = await npmTest(1, 0);
    expect(vitestFails.scripts.test).toBe('node scripts/test.mjs');
    expect(vitestFails.stdout).toContain('vitest ran: run');
    // kept while vitest ran, printed after it
    expect(vitestFails.stdout.indexOf('conformance ran')).toBeGreaterThan(vitestFails.stdout.indexOf('vitest ran'));
    expect(vitestFails.stderr).toContain('npm test: vitest exit 1, conformance exit 0');
    expect(vitestFails.code).not.toBe(0);

    expect((await npmTest(0, 1)).code).not.toBe(0);
    expect((await npmTest(0, 0)).code).toBe(0);
  });

  it('with arguments runs only vitest, with them', async () => {
    const subset = await npmTest(0, 1, ['test/unit/clock.test.ts']);
    expect(subset.stdout).toContain('vitest ran: run test/unit/clock.test.ts');
    expect(subset.conformanceStarted).toBe(false);
    expect(subset.code).toBe(0);
  });

  it('installs the browser in one visible pretest step, and no test file installs system packages', async () => {
    const { scripts } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(scripts.pretest).toContain('scripts/ensure-chromium.sh');
    const offenders: string[] = [];
    for (const file of await readdir(join(ROOT, 'test'), { recursive: true })) {
      if (!file.endsWith('.ts')) continue;
      const text = await readFile(join(ROOT, 'test', file), 'utf8');
      if (file !== 'integration/first-hour.test.ts' && /apt-get|ensure-chromium\.sh'\]/.test(text))
        offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });
});

describe('a URL-mode elicitation a server asks for', () => {
  it('reaches the agent as -32042 and is recorded as elicitation_required, not downstream_failed', async () => {
    const server = join(ROOT, 'test/integration/fixtures/url-elicitation-server.mjs');
    const gateway = await startGateway({
      servers: { consent: { transport: 'stdio', command: 'node', args: [server] } },
    });
    try {
      const { client } = await connectHttp(gateway.url);
      const error = await client.callTool({ name: 'consent__connect', arguments: {} }).then(
        () => undefined,
        (e: { code?: number }) => e,
      );
      await client.close();
      expect(error?.code).toBe(-32042);
      const listed = await runToExit(process.execPath, [
        BIN,
        'audit',
        'list',
        '--json',
        '--tool',
        'consent__connect',
        '--config',
        gateway.configFile,
      ]);
      expect(listed.code).toBe(0);
      const rows = JSON.parse(listed.stdout) as { outcome: string }[];
      expect(rows.map((row) => row.outcome)).toEqual(['elicitation_required']);
    } finally {
      await gateway.stop();
    }
  });
});
