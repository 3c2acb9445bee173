// Loading policy files: every error names the file and the path; argument schemas that do not compile
// fail the load; and every policy in the repo (policies/, README and docs snippets, the default config's
// policy) loads, and every policy test file passes.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText } from '../../src/config/load.js';
import { isWardenError } from '../../src/errors.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { loadPolicy, parsePolicyText, parseStructured, validate } from '../../src/policy/load.js';
import { policyFiles } from '../../src/policy/setup.js';
import { PolicyTestFileSchema, runPolicyTestFile } from '../../src/policy/tests.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const ROOT = resolve(import.meta.dirname, '../..');

function errorOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (!isWardenError(error, 'ERR_POLICY_INVALID')) throw error;
    return error.message;
  }
  throw new Error('expected the policy to be refused');
}

const load = (text: string, label = 'team.yaml') => compilePolicy([{ label, data: parsePolicyText(text, label) }]);

describe('policy files that do not load name the file and the path', () => {
  it.each([
    ['wrong version', 'version: 2\n', 'team.yaml: version: must be 1'],
    [
      'unknown field',
      'version: 1\ngrants:\n  - effect: allow\n    tool: [a]\n',
      'team.yaml: grants[0]: unknown field "tool"',
    ],
    [
      'a grant with no target',
      'version: 1\ngrants:\n  - effect: allow\n',
      'team.yaml: grants[0]: a grant needs at least one of tools, prompts, resources',
    ],
    ['bad effect', 'version: 1\ngrants:\n  - effect: permit\n    tools: [a]\n', 'team.yaml: grants[0].effect:'],
    [
      'approval on a deny',
      'version: 1\ngrants:\n  - effect: deny\n    tools: [a]\n    approval: required\n',
      'team.yaml: grants[0].approval: only an allow grant can have approval',
    ],
    [
      'a glob with a space',
      'version: 1\ngrants:\n  - effect: allow\n    tools: ["a b"]\n',
      'team.yaml: grants[0].tools[0]: must be printable ASCII',
    ],
    [
      'bad rate limit',
      'version: 1\ngrants:\n  - effect: allow\n    tools: [a]\n    rateLimit: { calls: 0, perSeconds: 1 }\n',
      'team.yaml: grants[0].rateLimit.calls:',
    ],
    [
      'unknown matcher field',
      'version: 1\nagents:\n  - id: a\n    match: { sub: x }\n',
      'team.yaml: agents[0].match: unknown field "sub"',
    ],
    [
      'unknown role',
      'version: 1\nagents:\n  - id: a\n    match: {}\n    roles: [nope]\n',
      'team.yaml: agents[0].roles[0]: unknown role "nope"',
    ],
    [
      'duplicate rule id',
      'version: 1\ngrants:\n  - { id: x, effect: allow, tools: [a] }\n  - { id: x, effect: deny, tools: [b] }\n',
      'team.yaml: grants[1].id: rule id "x" is already used at team.yaml#grants[0]',
    ],
    [
      'duplicate agent id',
      'version: 1\nagents:\n  - { id: a, match: {} }\n  - { id: a, match: {} }\n',
      'team.yaml: agents[1].id: agent id "a" is already used',
    ],
    [
      'an argument schema that does not compile',
      'version: 1\ngrants:\n  - effect: allow\n    tools: [a]\n    arguments: { type: object, properties: { x: { type: strin } } }\n',
      'team.yaml: grants[0].arguments: not a valid JSON Schema',
    ],
    [
      'an unknown JSON Schema keyword',
      'version: 1\ngrants:\n  - effect: allow\n    tools: [a]\n    arguments: { type: object, requird: [x] }\n',
      'team.yaml: grants[0].arguments: not a valid JSON Schema: strict mode: unknown keyword: "requird"',
    ],
    [
      'an unknown format',
      'version: 1\ngrants:\n  - effect: allow\n    tools: [a]\n    arguments: { properties: { x: { format: email } } }\n',
      'team.yaml: grants[0].arguments: not a valid JSON Schema: unknown format "email"',
    ],
    [
      'a remote $ref',
      'version: 1\ngrants:\n  - effect: allow\n    tools: [a]\n    arguments: { $ref: "https://example.com/s.json" }\n',
      'team.yaml: grants[0].arguments: not a valid JSON Schema',
    ],
    [
      'arguments on resources',
      'version: 1\ngrants:\n  - effect: allow\n    resources: ["x://*"]\n    arguments: { type: object }\n',
      'team.yaml: grants[0].arguments: resources have no arguments',
    ],
    ['a duplicate YAML key', 'version: 1\nversion: 1\n', 'team.yaml: not valid YAML: Map keys must be unique'],
    ['broken YAML', 'version: 1\ngrants: [\n', 'team.yaml: not valid YAML:'],
    [
      'a __proto__ key',
      'version: 1\ngrants:\n  - effect: allow\n    tools: [a]\n    arguments: { __proto__: { type: object } }\n',
      'team.yaml: grants[0].arguments: "__proto__" is not allowed as a key',
    ],
    [
      'default TTL above the maximum',
      'version: 1\ntasks: { defaultTtlSeconds: 600, maxTtlSeconds: 60 }\n',
      'team.yaml: tasks.defaultTtlSeconds: defaultTtlSeconds must not exceed maxTtlSeconds',
    ],
  ])('%s', (_name, text, message) => {
    expect(errorOf(() => load(text))).toContain(message);
  });

  it('JSON files are parsed as JSON', () => {
    expect(errorOf(() => load('{"version": 1,}', 'team.json'))).toContain('team.json: not valid JSON');
    expect(load('{"version": 1, "grants": [{"effect": "allow", "tools": ["a"]}]}', 'team.json').ruleCount).toBe(1);
  });

  it('checks across files: a role defined twice, task settings given twice', () => {
    const a = {
      label: 'a.yaml',
      data: parsePolicyText(
        'version: 1\ntasks: {}\nroles:\n  r: { grants: [{ effect: allow, tools: [x] }] }\n',
        'a.yaml',
      ),
    };
    const b = {
      label: 'b.yaml',
      data: parsePolicyText('version: 1\nroles:\n  r: { grants: [{ effect: allow, tools: [y] }] }\n', 'b.yaml'),
    };
    const c = { label: 'c.yaml', data: parsePolicyText('version: 1\ntasks: {}\n', 'c.yaml') };
    expect(errorOf(() => compilePolicy([a, b]))).toBe('b.yaml: roles.r: role "r" is already defined in a.yaml');
    expect(errorOf(() => compilePolicy([a, c]))).toBe(
      'c.yaml: tasks: task settings are already given in a.yaml; keep them in one file',
    );
  });

  it('a missing file says so', () => {
    expect(
      errorOf(() => loadPolicy([{ path: join(ROOT, 'policies', 'nope.yaml'), label: 'policies/nope.yaml' }])),
    ).toBe('policies/nope.yaml: no such file');
  });
});

describe('policy test files', () => {
  let dir: TempDir;
  beforeAll(async () => {
    dir = await makeTempDir('warden-policy-tests');
    await writeFile(join(dir.path, 'p.yaml'), 'version: 1\ngrants:\n  - { id: r, effect: allow, tools: [a] }\n');
    await writeFile(
      join(dir.path, 'p.test.yaml'),
      'policy: p.yaml\ntests:\n  - { name: passes, principal: { subject: s }, call: { tool: a }, expect: allow }\n  - { name: fails, principal: { subject: s }, call: { tool: b }, expect: { effect: allow, rule: r } }\n',
    );
  });
  afterAll(async () => dir?.cleanup());

  it('report each case, with what was expected and what happened', () => {
    const result = runPolicyTestFile({ path: join(dir.path, 'p.test.yaml'), label: 'p.test.yaml' });
    expect(result.results.map((r) => [r.name, r.passed])).toEqual([
      ['passes', true],
      ['fails', false],
    ]);
    expect(result.results[1]).toMatchObject({
      expected: 'allow, rule r',
      actual: expect.stringContaining('deny, rule default-deny'),
    });
  });
});

/** Every policy in the repo: policies/*.yaml (not tests), test/fixtures/*.policy.yaml, and ```yaml blocks in README.md and docs/*.md. */
function shippedPolicies(): { name: string; text: string; kind: 'policy' | 'test' }[] {
  const out: { name: string; text: string; kind: 'policy' | 'test' }[] = [];
  for (const name of readdirSync(join(ROOT, 'policies')).sort()) {
    if (!/\.(ya?ml|json)$/.test(name)) continue;
    out.push({
      name: `policies/${name}`,
      text: readFileSync(join(ROOT, 'policies', name), 'utf8'),
      kind: /\.test\./.test(name) ? 'test' : 'policy',
    });
  }
  // The conformance runs' policy (test/fixtures/conformance.policy.yaml).
  for (const name of readdirSync(join(ROOT, 'test', 'fixtures')).sort()) {
    if (!name.endsWith('.policy.yaml')) continue;
    out.push({
      name: `test/fixtures/${name}`,
      text: readFileSync(join(ROOT, 'test', 'fixtures', name), 'utf8'),
      kind: 'policy',
    });
  }
  const docsDir = join(ROOT, 'docs');
  const docs = [
    join(ROOT, 'README.md'),
    ...(existsSync(docsDir)
      ? readdirSync(docsDir)
          .filter((f) => f.endsWith('.md'))
          .map((f) => join(docsDir, f))
      : []),
  ];
  for (const path of docs.filter((p) => existsSync(p))) {
    let index = 0;
    for (const match of readFileSync(path, 'utf8').matchAll(/^```yaml[^\n]*\n([\s\S]*?)^```/gm)) {
      index += 1;
      const text = match[1] ?? '';
      // A CI workflow or a Prometheus file is not a policy: test/docs/readme-examples.test.ts checks those.
      if (/^(jobs|scrape_configs|groups):/m.test(text)) continue;
      out.push({
        name: `${path.slice(ROOT.length + 1)} yaml block ${index}`,
        text,
        kind: /^tests:/m.test(text) ? 'test' : 'policy',
      });
    }
  }
  return out;
}

describe('policies shipped in the repo', () => {
  const shipped = shippedPolicies();

  it('finds the default policy, an example, their tests, and README and docs snippets', () => {
    const names = shipped.map((p) => p.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'policies/default.yaml',
        'policies/default.test.yaml',
        'policies/example-team.yaml',
        'policies/example-team.test.yaml',
        'test/fixtures/conformance.policy.yaml',
      ]),
    );
    expect(names.some((n) => n.startsWith('README.md yaml block'))).toBe(true);
    expect(names.some((n) => n.startsWith('docs/policy.md yaml block'))).toBe(true);
    // Every policy has its tests.
    for (const name of names.filter((n) => n.startsWith('policies/') && !n.includes('.test.'))) {
      expect(names).toContain(name.replace(/\.(ya?ml|json)$/, '.test.yaml'));
    }
  });

  it.each(shipped.map((p) => [p.name, p] as const))('%s loads', (name, entry) => {
    if (entry.kind === 'policy') {
      expect(compilePolicy([{ label: name, data: parsePolicyText(entry.text, name) }]).version).toMatch(
        /^[0-9a-f]{12}$/,
      );
    } else {
      expect(
        validate(PolicyTestFileSchema, parseStructured(entry.text, `${name}.yaml`), name).tests.length,
      ).toBeGreaterThan(0);
    }
  });

  it.each(shipped.filter((p) => p.kind === 'test' && p.name.startsWith('policies/')).map((p) => [p.name] as const))(
    '%s passes',
    (name) => {
      const result = runPolicyTestFile({ path: join(ROOT, name), label: name });
      expect(result.results.filter((r) => !r.passed)).toEqual([]);
      expect(result.results.length).toBeGreaterThan(5);
    },
  );

  it("the README's default policy is policies/default.yaml without its descriptions", () => {
    const strip = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(strip)
        : value && typeof value === 'object'
          ? Object.fromEntries(
              Object.entries(value)
                .filter(([k]) => k !== 'description')
                .map(([k, v]) => [k, strip(v)]),
            )
          : value;
    const shippedFile = parsePolicyText(readFileSync(join(ROOT, 'policies/default.yaml'), 'utf8'), 'default.yaml');
    const readme = shipped.find((p) => p.name === 'README.md yaml block 1')!;
    const fromReadme = compilePolicy([{ label: 'README', data: parsePolicyText(readme.text, 'README') }]);
    expect(compilePolicy([{ label: 'default.yaml', data: strip(shippedFile) as typeof shippedFile }]).version).toBe(
      fromReadme.version,
    );
  });

  it('the config reserves the "warden" prefix for the gateway\'s own tools, and checks the policy section', () => {
    const config =
      (servers: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      () =>
        parseConfigText(JSON.stringify({ version: 1, servers, ...extra }), 'mcp.config.json', {});
    const stdio = { transport: 'stdio', command: 'node' };
    expect(() => config({ warden: stdio })()).toThrow(
      'mcp.config.json: servers.warden: "warden" is reserved for the gateway\'s own tools',
    );
    expect(() => config({ w: { ...stdio, prefix: 'warden' } })()).toThrow(
      'mcp.config.json: servers.w.prefix: "warden" is reserved',
    );
    expect(() => config({}, { policy: { files: [] } })()).toThrow('mcp.config.json: policy.files:');
    expect(() => config({}, { policy: { files: ['a.yaml'], reload: true } })()).toThrow(
      'mcp.config.json: policy: unknown field "reload"',
    );
    expect(config({}, { policy: { files: ['a.yaml'] } })().policy).toEqual({ files: ['a.yaml'], watch: true });
  });

  it('mcp.config.json uses the default policy, and it loads', () => {
    const loaded = loadConfig(join(ROOT, 'mcp.config.json'), {
      env: { ...process.env, MCP_WARDEN_DATA_DIR: undefined },
    });
    const files = policyFiles(loaded);
    expect(files.map((f) => f.label)).toEqual(['policies/default.yaml']);
    expect(loadPolicy(files).ruleCount).toBeGreaterThan(0);
  });
});
