// The README's yaml blocks that are not policies are checked for what they claim: the Prometheus alert
// rules and scrape config name metrics and a path the gateway really serves, the metric table names every
// family with its labels, and the CI gate's
// `policy replay` line is accepted by the real CLI. (Policy blocks are loaded by test/policy/load.test.ts.)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GatewayMetrics } from '../../src/observe/metrics.js';
import { BIN } from '../helpers/gateway.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const ROOT = resolve(import.meta.dirname, '../..');

/** The ```yaml blocks of a markdown file, parsed. */
function yamlBlocks(path: string): { text: string; data: Record<string, unknown> }[] {
  return [...readFileSync(path, 'utf8').matchAll(/^```yaml[^\n]*\n([\s\S]*?)^```/gm)].map((m) => ({
    text: m[1] ?? '',
    data: (parse(m[1] ?? '') ?? {}) as Record<string, unknown>,
  }));
}

const blocks = yamlBlocks(join(ROOT, 'README.md'));

interface AlertRule {
  alert: string;
  expr: string;
}

describe('README monitoring examples', () => {
  let exported: Set<string>;

  beforeAll(async () => {
    const metrics = new GatewayMetrics({ maxToolLabels: 10, auditQuotaBytes: 1 });
    const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
    // Histograms are queried through their _count, _sum and _bucket series.
    exported = new Set(names.flatMap((n) => [n, `${n}_count`, `${n}_sum`, `${n}_bucket`]));
  });

  it('every alert rule queries metrics the gateway exports', () => {
    const rules = blocks.flatMap((b) =>
      ((b.data.groups as { rules: AlertRule[] }[] | undefined) ?? []).flatMap((g) => g.rules),
    );
    expect(rules.length).toBeGreaterThanOrEqual(4);
    for (const rule of rules) {
      const used = rule.expr.match(/\bmcp_warden_[a-z_]+/g) ?? [];
      expect(used.length, rule.alert).toBeGreaterThan(0);
      for (const name of used) expect(exported.has(name), `${rule.alert}: ${name}`).toBe(true);
    }
  });

  it('the metric table lists every mcp_warden_ family the gateway registers, with exactly its labels', async () => {
    const metrics = new GatewayMetrics({ maxToolLabels: 10, auditQuotaBytes: 1 });
    const registered = new Map<string, string[]>();
    for (const { name } of await metrics.registry.getMetricsAsJSON()) {
      if (!name.startsWith('mcp_warden_')) continue;
      // prom-client keeps each family's label names on the metric object.
      const labelNames = (metrics.registry.getSingleMetric(name) as unknown as { labelNames: readonly string[] })
        .labelNames;
      registered.set(name, [...labelNames].sort());
    }
    const documented = new Map<string, string[]>();
    for (const row of readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(
      /^\| `(mcp_warden_[a-z_]+)` \|[^|]*\|([^|]*)\|/gm,
    )) {
      // The labels column names each label in backticks; the values some take are listed in parentheses.
      const labels = [...row[2]!.replace(/\([^)]*\)/g, '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
      documented.set(row[1]!, labels.sort());
    }
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(registered));
  });

  it('the scrape config scrapes /metrics', () => {
    const scrape = blocks.flatMap((b) => (b.data.scrape_configs as { metrics_path?: string }[] | undefined) ?? []);
    expect(scrape.map((s) => s.metrics_path)).toEqual(['/metrics']);
  });
});

describe('README policy replay CI gate', () => {
  let dir: TempDir;
  beforeAll(async () => {
    dir = await makeTempDir('readme-replay');
  });
  afterAll(async () => {
    await dir.cleanup();
  });

  it('its replay line is accepted by the CLI: the only complaint about an empty folder is the missing audit log', () => {
    const workflow = blocks.find((b) => b.data.jobs !== undefined);
    const line = workflow?.text.match(/npx mcp-warden (.*policy replay[^|\n]*)/)?.[1];
    expect(line).toBeDefined();
    const args = line!
      .trim()
      .split(/\s+/)
      .map((a) => (a === 'audit-snapshot' ? dir.path : a));
    const result = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(result.stderr).toContain(`no audit database at ${join(dir.path, 'audit.db')}`);
    expect(result.status).toBe(1);
  });
});

/** The ```<lang> blocks of the README, as text. */
function codeBlocks(lang: string): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\``, 'gm'))].map((m) => m[1] ?? '');
}

/** One shell command with its `\` continuations joined, split on blanks (quoted strings kept whole). */
function words(command: string): string[] {
  return [...command.replace(/\\\n\s*/g, ' ').matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

describe('README Claude set-up', () => {
  let dir: TempDir;
  beforeAll(async () => {
    dir = await makeTempDir('readme-claude');
  });
  afterAll(async () => {
    await dir.cleanup();
  });

  /** Runs the README's mcp-warden arguments against a config that does not exist: only that is refused. */
  const acceptedByCli = (args: string[]) => {
    const missing = join(dir.path, 'missing.json');
    const at = args.indexOf('--config');
    expect(at).toBeGreaterThan(0);
    const run = args.map((a, i) => (i === at + 1 ? missing : a));
    const result = spawnSync(process.execPath, [BIN, ...run], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(result.stderr).not.toMatch(/Unknown option|Unexpected argument/);
    expect(result.stderr).toContain(`${missing}: no such file`);
  };

  const stdioCommand = () => {
    const line = codeBlocks('sh').find((b) => /claude mcp add --transport stdio/.test(b));
    expect(line).toBeDefined();
    const all = words(line!);
    const node = all.indexOf('--') + 1;
    return { all, argv: all.slice(node + 2), bin: all[node + 1] };
  };

  const desktopEntry = () => {
    const block = codeBlocks('json').find((b) => b.includes('"mcpServers"'));
    return (JSON.parse(block!) as { mcpServers: Record<string, { command: string; args: string[] }> }).mcpServers
      .warden!;
  };

  it('the claude_desktop_config.json entry runs `mcp-warden stdio` with options the CLI accepts', () => {
    const entry = desktopEntry();
    expect(entry.args[0]).toMatch(/\/bin\/mcp-warden\.js$/);
    expect(entry.args.slice(1).filter((a) => a.startsWith('-') || a === 'stdio')).toEqual([
      'stdio',
      '--config',
      '--token-file',
    ]);
    acceptedByCli(entry.args.slice(1));
  });

  it('`claude mcp add` over stdio runs the same command as the desktop entry', () => {
    const { all, argv, bin } = stdioCommand();
    expect(all.slice(0, 3)).toEqual(['claude', 'mcp', 'add']);
    expect(bin).toMatch(/\/bin\/mcp-warden\.js$/);
    expect(argv.filter((a) => a.startsWith('-') || a === 'stdio')).toEqual(['stdio', '--config', '--token-file']);
    // The same node, bin and arguments as the desktop entry, whose arguments the test above runs through the CLI.
    const entry = desktopEntry();
    expect([all[all.indexOf('--') + 1], bin, ...argv]).toEqual([entry.command, ...entry.args]);
  });

  it('`claude mcp add` over HTTP names the default config URL and a bearer token the CLI issues', () => {
    const block = codeBlocks('sh').find((b) => /claude mcp add --transport http/.test(b))!;
    const config = JSON.parse(readFileSync(join(ROOT, 'mcp.config.json'), 'utf8')) as {
      gateway: { host: string; port: number };
    };
    const add = words(block.slice(block.indexOf('claude mcp add')));
    expect(add).toContain(`http://${config.gateway.host}:${config.gateway.port}/mcp`);
    expect(add[add.indexOf('--header') + 1]).toBe('Authorization: Bearer $WARDEN_TOKEN');
    const issue = block.match(/npx mcp-warden (token issue [^)]*)\)/)?.[1];
    expect(issue).toBeDefined();
    acceptedByCli([...words(issue!), '--config', 'x']);
  });
});
