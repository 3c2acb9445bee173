// The config schema, the loader and ${VAR} interpolation: pure and table-driven. Every error must name the
// file and the JSON path; every config shipped in the repo must validate.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText } from '../../src/config/load.js';
import { interpolateEnv } from '../../src/config/interpolate.js';
import { isWardenError } from '../../src/errors.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const ROOT = resolve(import.meta.dirname, '../..');
const FILE = 'mcp.config.json';
const AUTH = { mode: 'unauthenticated-local' };
const stdio = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  transport: 'stdio',
  command: 'node',
  args: ['server.js'],
  ...extra,
});
const withServers = (
  servers: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({ version: 1, auth: AUTH, servers, ...extra });

/** The message of the error parseConfigText throws, or a failure when it throws none. */
function errorOf(config: unknown, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfigText(typeof config === 'string' ? config : JSON.stringify(config), FILE, env);
  } catch (error) {
    if (!isWardenError(error)) throw error;
    return error.message;
  }
  throw new Error('expected the config to be refused');
}

describe('config schema', () => {
  it('accepts a minimal config and fills in the defaults', () => {
    const config = parseConfigText(JSON.stringify({ version: 1, servers: { notes: stdio() } }), FILE, {});
    expect(config.dataDir).toBe('./.warden');
    expect(config.auth).toBeUndefined();
    expect(config.gateway).toMatchObject({
      host: '127.0.0.1',
      port: 8787,
      maxBodyBytes: 4 * 1024 * 1024,
      maxJsonDepth: 64,
      maxSessions: 2000,
    });
    expect(config.logging.level).toBe('info');
    expect(config.servers.notes).toMatchObject({
      transport: 'stdio',
      command: 'node',
      args: ['server.js'],
      env: {},
      enabled: true,
      shared: false,
      protocol: 'auto',
    });
    expect(config.servers.notes?.prefix).toBeUndefined();
  });

  it.each([
    ['stdio', stdio({ env: { TOKEN_FILE: '/x' }, cwd: 'sub', timeoutMs: 1000, prefix: 'n', shared: true })],
    ['http (https)', { transport: 'http', url: 'https://mcp.example.com/mcp', headers: { 'X-Team': 'a' } }],
    ['http (loopback http)', { transport: 'http', url: 'http://127.0.0.1:9000/mcp' }],
    ['http (localhost http)', { transport: 'http', url: 'http://localhost:9000/mcp' }],
    ['http (IPv6 loopback http)', { transport: 'http', url: 'http://[::1]:9000/mcp' }],
    [
      'http with launch',
      { transport: 'http', url: 'http://127.0.0.1:0/mcp', launch: { command: 'node', args: ['x.js'] } },
    ],
    ['sse', { transport: 'sse', url: 'https://legacy.example.com/sse', enabled: false }],
    [
      'sse with launch',
      { transport: 'sse', url: 'http://127.0.0.1:0/sse', launch: { command: 'node', args: ['x.js'] } },
    ],
    ['unprefixed', stdio({ prefix: false })],
    ['2026-only stdio', stdio({ protocol: '2026-07-28' })],
    ['2026-only http', { transport: 'http', url: 'http://127.0.0.1:9000/mcp', protocol: '2026-07-28' }],
    ['2025 pinned', stdio({ protocol: '2025-11-25' })],
  ])('accepts a %s server', (_kind, server) => {
    const config = parseConfigText(JSON.stringify(withServers({ s: server })), FILE, {});
    expect(config.servers.s?.transport).toBe((server as { transport: string }).transport);
  });

  it.each([
    [
      'non-loopback http URL',
      withServers({ github: { transport: 'http', url: 'http://api.github.com/mcp' } }),
      'mcp.config.json: servers.github.url: must be an https URL (loopback may use http)',
    ],
    [
      'look-alike loopback host',
      withServers({ github: { transport: 'http', url: 'http://127.0.0.1.nip.io/mcp' } }),
      'mcp.config.json: servers.github.url: must be an https URL (loopback may use http)',
    ],
    [
      'non-http scheme',
      withServers({ old: { transport: 'sse', url: 'ftp://127.0.0.1/sse' } }),
      'mcp.config.json: servers.old.url: must be an https URL (loopback may use http)',
    ],
    [
      'relative URL',
      withServers({ a: { transport: 'http', url: '/mcp' } }),
      'mcp.config.json: servers.a.url: must be an absolute URL',
    ],
    [
      'upper-case server id',
      withServers({ GitHub: stdio() }),
      'mcp.config.json: servers.GitHub: server ids must match ^[a-z0-9][a-z0-9-]{0,31}$',
    ],
    [
      'unknown protocol revision',
      withServers({ a: stdio({ protocol: '2026' }) }),
      'mcp.config.json: servers.a.protocol: Invalid option: expected one of "auto"|"2025-11-25"|"2026-07-28"',
    ],
    ['server id with underscore', withServers({ a_b: stdio() }), 'mcp.config.json: servers.a_b: server ids must match'],
    [
      'server id too long',
      withServers({ ['a'.repeat(33)]: stdio() }),
      `mcp.config.json: servers.${'a'.repeat(33)}: server ids must match`,
    ],
    [
      'a "__proto__" key',
      '{"version":1,"servers":{},"__proto__":{"dataDir":"/elsewhere"}}',
      'mcp.config.json: (root): unknown field "__proto__"',
    ],
    ['unknown top-level field', withServers({}, { extra: true }), 'mcp.config.json: (root): unknown field "extra"'],
    [
      'unknown server field',
      withServers({ a: stdio({ shell: true }) }),
      'mcp.config.json: servers.a: unknown field "shell"',
    ],
    [
      'unknown gateway field',
      withServers({}, { gateway: { hots: 'x' } }),
      'mcp.config.json: gateway: unknown field "hots"',
    ],
    [
      'unknown launch field',
      withServers({
        t: { transport: 'http', url: 'http://127.0.0.1:0/mcp', launch: { command: 'node', shell: true } },
      }),
      'mcp.config.json: servers.t.launch: unknown field "shell"',
    ],
    [
      'launch on a stdio server',
      withServers({ a: { transport: 'stdio', command: 'node', launch: { command: 'x' } } }),
      'mcp.config.json: servers.a: unknown field "launch"',
    ],
    [
      'unsupported transport',
      withServers({ a: { transport: 'websocket', url: 'https://x.example' } }),
      'mcp.config.json: servers.a.transport: must be one of "stdio", "http", "sse"',
    ],
    [
      'missing transport',
      withServers({ a: { command: 'node' } }),
      'mcp.config.json: servers.a.transport: missing; must be one of "stdio", "http", "sse"',
    ],
    [
      'prefix with a space',
      withServers({ a: stdio({ prefix: 'bad prefix' }) }),
      'mcp.config.json: servers.a.prefix: must be 1-32 letters, digits or dashes',
    ],
    [
      'prefix with the separator',
      withServers({ a: stdio({ prefix: 'a__b' }) }),
      'mcp.config.json: servers.a.prefix: must be 1-32 letters, digits or dashes',
    ],
    [
      'prefix true',
      withServers({ a: stdio({ prefix: true }) }),
      'mcp.config.json: servers.a.prefix: must be 1-32 letters, digits or dashes, or false',
    ],
    [
      'duplicate prefixes',
      withServers({ a: stdio(), b: stdio({ prefix: 'a' }) }),
      'mcp.config.json: servers.b.prefix: "a" is already the prefix of server "a"',
    ],
    [
      'duplicate explicit prefixes',
      withServers({ a: stdio({ prefix: 'x' }), b: stdio({ prefix: 'x' }) }),
      'mcp.config.json: servers.b.prefix: "x" is already the prefix of server "a"',
    ],
    ['empty command', withServers({ a: stdio({ command: '' }) }), 'mcp.config.json: servers.a.command:'],
    ['non-string argument', withServers({ a: stdio({ args: ['ok', 1] }) }), 'mcp.config.json: servers.a.args[1]:'],
    [
      'bad env name',
      withServers({ a: stdio({ env: { '1BAD': 'x' } }) }),
      'mcp.config.json: servers.a.env.1BAD: must be an environment variable name',
    ],
    [
      'bad header name',
      withServers({ a: { transport: 'http', url: 'https://x.example', headers: { 'Bad Header': 'x' } } }),
      'mcp.config.json: servers.a.headers.Bad Header: must be an HTTP header name',
    ],
    ['timeout too small', withServers({ a: stdio({ timeoutMs: 5 }) }), 'mcp.config.json: servers.a.timeoutMs:'],
    ['port out of range', withServers({}, { gateway: { port: 70_000 } }), 'mcp.config.json: gateway.port:'],
    [
      'body cap too small',
      withServers({}, { gateway: { maxBodyBytes: 10 } }),
      'mcp.config.json: gateway.maxBodyBytes:',
    ],
    [
      'unknown auth mode',
      withServers({}, { auth: { mode: 'trust-me' } }),
      'mcp.config.json: auth.mode: must be one of "unauthenticated-local"',
    ],
    ['unknown log level', withServers({}, { logging: { level: 'loud' } }), 'mcp.config.json: logging.level:'],
    ['wrong version', { version: 2, servers: {} }, 'mcp.config.json: version:'],
    ['no servers', { version: 1 }, 'mcp.config.json: servers:'],
    ['an array', [], 'mcp.config.json: (root):'],
    ['not JSON', '{"version": 1,', 'mcp.config.json: not valid JSON'],
  ])('refuses %s, naming the file and JSON path', (_name, config, expected) => {
    expect(errorOf(config)).toContain(expected);
  });

  it('reports every problem at once, one line each', () => {
    const message = errorOf(
      withServers({ a: { transport: 'http', url: 'http://evil.example/mcp' }, B: stdio() }, { extra: 1 }),
    );
    const lines = message.split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(line).toMatch(/^mcp\.config\.json: \S+: /);
  });

  it('ignores prefixes of disabled and unprefixed servers when looking for duplicates', () => {
    const config = parseConfigText(
      JSON.stringify(
        withServers({
          a: stdio(),
          b: stdio({ prefix: 'a', enabled: false }),
          c: stdio({ prefix: false }),
          d: stdio({ prefix: false }),
        }),
      ),
      FILE,
      {},
    );
    expect(Object.keys(config.servers)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('${VAR} interpolation', () => {
  const env = { HOME: '/home/ada', EMPTY: '', PORT: '9000' };

  it.each([
    ['${HOME}/notes', '/home/ada/notes'],
    ['${HOME}${HOME}', '/home/ada/home/ada'],
    ['http://127.0.0.1:${PORT}/mcp', 'http://127.0.0.1:9000/mcp'],
    ['${MISSING:-fallback}', 'fallback'],
    ['${MISSING:-}', ''],
    ['${EMPTY:-used when empty}', 'used when empty'],
    ['${HOME:-unused}', '/home/ada'],
    ['${MISSING:-a:b/c}', 'a:b/c'],
    ['pa$$word', 'pa$word'],
    ['$${HOME}', '${HOME}'],
    ['$$$$', '$$'],
    ['cost: $5', 'cost: $5'],
    ['no placeholders', 'no placeholders'],
  ])('%s → %s', (input, expected) => {
    expect(interpolateEnv({ value: input }, env)).toEqual({ value: expected });
  });

  it('interpolates inside arrays and nested objects, never keys, and leaves non-strings alone', () => {
    expect(interpolateEnv({ '${HOME}': { list: ['${PORT}', 3, true, null] } }, env)).toEqual({
      '${HOME}': { list: ['9000', 3, true, null] },
    });
  });

  it.each([
    [
      { servers: { a: { args: ['--dir', '${NOTES_DIR}'] } } },
      'servers.a.args[1]: environment variable NOTES_DIR is not set',
    ],
    [{ servers: { a: { url: 'https://${HOST}/mcp' } } }, 'servers.a.url: environment variable HOST is not set'],
    [{ dataDir: '${EMPTY}' }, 'dataDir: environment variable EMPTY is not set'],
    ['${NOPE}', '(root): environment variable NOPE is not set'],
  ])('a missing variable names the JSON path (%#)', (input, expected) => {
    expect(() => interpolateEnv(input, env)).toThrow(expected);
  });

  it('names the file, the path and how to give a default through the loader', () => {
    const message = errorOf(withServers({ notes: stdio({ args: ['${NOTES_DIR}'] }) }));
    expect(message).toBe(
      'mcp.config.json: servers.notes.args[0]: environment variable NOTES_DIR is not set (write ${NOTES_DIR:-default} to give a default)',
    );
  });

  it('validates the interpolated value, not the placeholder', () => {
    expect(errorOf(withServers({ a: { transport: 'http', url: '${URL}' } }), { URL: 'http://evil.example/mcp' })).toBe(
      'mcp.config.json: servers.a.url: must be an https URL (loopback may use http)',
    );
    const config = parseConfigText(JSON.stringify(withServers({ a: { transport: 'http', url: '${URL}' } })), FILE, {
      URL: 'https://ok.example/mcp',
    });
    expect(config.servers.a).toMatchObject({ url: 'https://ok.example/mcp' });
  });
});

describe('loadConfig', () => {
  let tmp: TempDir;
  let file: string;

  beforeAll(async () => {
    tmp = await makeTempDir('warden-config');
    await mkdir(join(tmp.path, 'conf'));
    file = join(tmp.path, 'conf', 'mcp.config.json');
    await writeFile(file, JSON.stringify({ version: 1, dataDir: './state', servers: { notes: stdio() } }));
  });

  afterAll(async () => {
    await tmp?.cleanup();
  });

  it('resolves a relative dataDir against the config file folder, not the working directory', () => {
    const loaded = loadConfig(file, { env: {} });
    expect(loaded.file).toBe(file);
    expect(loaded.baseDir).toBe(join(tmp.path, 'conf'));
    expect(loaded.dataDir).toBe(join(tmp.path, 'conf', 'state'));
  });

  it('keeps an absolute dataDir as it is', async () => {
    const abs = join(tmp.path, 'abs.config.json');
    await writeFile(abs, JSON.stringify({ version: 1, dataDir: '/var/lib/warden', servers: {} }));
    expect(loadConfig(abs, { env: {} }).dataDir).toBe('/var/lib/warden');
  });

  it.each([
    ['the file only', {}, undefined, (): string => join(tmp.path, 'conf', 'state')],
    [
      'MCP_WARDEN_DATA_DIR over the file',
      { MCP_WARDEN_DATA_DIR: '/srv/env-data' },
      undefined,
      (): string => '/srv/env-data',
    ],
    [
      '--data-dir over MCP_WARDEN_DATA_DIR',
      { MCP_WARDEN_DATA_DIR: '/srv/env-data' },
      '/srv/flag-data',
      (): string => '/srv/flag-data',
    ],
    ['--data-dir over the file', {}, '/srv/flag-data', (): string => '/srv/flag-data'],
    [
      'an empty MCP_WARDEN_DATA_DIR counts as unset',
      { MCP_WARDEN_DATA_DIR: '' },
      undefined,
      (): string => join(tmp.path, 'conf', 'state'),
    ],
    [
      'a relative --data-dir is relative to the working directory',
      {},
      'rel-data',
      (): string => resolve(process.cwd(), 'rel-data'),
    ],
    [
      'a relative MCP_WARDEN_DATA_DIR is relative to the working directory',
      { MCP_WARDEN_DATA_DIR: 'env-rel' },
      undefined,
      (): string => resolve(process.cwd(), 'env-rel'),
    ],
  ])('data folder: %s', (_name, env, flag, expected) => {
    expect(loadConfig(file, { env, dataDirOverride: flag }).dataDir).toBe(expected());
  });

  it('a missing file is reported with its absolute path', () => {
    const missing = join(tmp.path, 'nope.json');
    expect(() => loadConfig(missing, { env: {} })).toThrow(`${missing}: no such file`);
  });

  it('errors from a file name that file', async () => {
    const bad = join(tmp.path, 'team.config.json');
    await writeFile(
      bad,
      JSON.stringify({ version: 1, servers: { github: { transport: 'http', url: 'http://api.github.com/mcp' } } }),
    );
    expect(() => loadConfig(bad, { env: {} })).toThrow(
      'team.config.json: servers.github.url: must be an https URL (loopback may use http)',
    );
  });
});

/** Every config shipped in the repo: files, and ```json blocks in README.md and docs/*.md that configure servers. */
function shippedConfigs(): { name: string; kind: 'file' | 'snippet'; path: string; text: string }[] {
  const out: { name: string; kind: 'file' | 'snippet'; path: string; text: string }[] = [];
  const files = [join(ROOT, 'mcp.config.json'), ...listDir('test/fixtures').filter((f) => f.endsWith('.config.json'))];
  for (const path of files)
    out.push({ name: path.slice(ROOT.length + 1), kind: 'file', path, text: readFileSync(path, 'utf8') });
  const docs = [join(ROOT, 'README.md'), ...listDir('docs').filter((f) => f.endsWith('.md'))].filter((f) =>
    existsSync(f),
  );
  for (const path of docs) {
    const markdown = readFileSync(path, 'utf8');
    let index = 0;
    for (const match of markdown.matchAll(/^```json[^\n]*\n([\s\S]*?)^```/gm)) {
      index += 1;
      const text = match[1] ?? '';
      if (text.includes('"servers"'))
        out.push({ name: `${path.slice(ROOT.length + 1)} json block ${index}`, kind: 'snippet', path, text });
    }
  }
  return out;
}

function listDir(relative: string): string[] {
  const dir = join(ROOT, relative);
  return existsSync(dir) ? readdirSync(dir).map((name) => join(dir, name)) : [];
}

describe('configs shipped in the repo', () => {
  const shipped = shippedConfigs();
  // Examples may mention ordinary variables such as ${HOME}, and ${MCP_WARDEN_PG_URL} (README, replicas).
  const env = {
    ...process.env,
    HOME: process.env.HOME ?? '/home/example',
    MCP_WARDEN_PG_URL: process.env.MCP_WARDEN_PG_URL ?? 'postgres://warden@db.example.com:5432/warden',
    MCP_WARDEN_DATA_DIR: undefined,
  };

  it('finds mcp.config.json and the fixture configs', () => {
    const names = shipped.map((c) => c.name);
    expect(names).toContain('mcp.config.json');
    expect(names).toContain(join('test', 'fixtures', 'conformance.config.json'));
    if (
      existsSync(join(ROOT, 'README.md')) &&
      /^```json[^\n]*\n[^`]*"servers"/m.test(readFileSync(join(ROOT, 'README.md'), 'utf8'))
    ) {
      expect(names.some((n) => n.startsWith('README.md'))).toBe(true);
    }
  });

  it.each(shipped.map((c) => [c.name, c] as const))('%s is valid', (_name, entry) => {
    if (entry.kind === 'file') {
      const loaded = loadConfig(entry.path, { env });
      expect(loaded.config.version).toBe(1);
      expect(Object.keys(loaded.config.servers).length).toBeGreaterThan(0);
    } else {
      const config = parseConfigText(entry.text, entry.name, env);
      expect(config.version).toBe(1);
    }
  });
});
