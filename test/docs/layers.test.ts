// The layer rules (.dependency-cruiser.cjs) run by `npm run lint`: each boundary refuses a new import
// across it with the rule's name. Real dependency-cruiser on small trees written to a temp folder, run
// through the same script the lint runs; the project's own src/ is checked by the lint itself.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/process.js';

const run = promisify(execFile);
const script = resolve(import.meta.dirname, '../../scripts/lint-layers.mjs');

/** Files of a tree: every one exports a constant and imports the files it names. */
type Tree = Record<string, string[]>;

async function lintLayers(root: string, tree: Tree): Promise<{ code: number; output: string }> {
  mkdirSync(root, { recursive: true });
  writeFileSync(
    join(root, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }),
  );
  for (const [file, imports] of Object.entries(tree)) {
    const path = join(root, file);
    mkdirSync(dirname(path), { recursive: true });
    const lines = imports.map((target, i) => `import { value as v${i} } from '${relativeImport(file, target)}';`);
    writeFileSync(path, `${lines.join('\n')}\nexport const value = [${imports.map((_, i) => `v${i}`).join(', ')}];\n`);
  }
  try {
    const { stdout, stderr } = await run(process.execPath, [script, root], { env: { ...process.env, CI: 'true' } });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

function relativeImport(from: string, to: string): string {
  const up = from.split('/').length - 2;
  return `${up === 0 ? './' : '../'.repeat(up)}${to.replace(/^src\//, '').replace(/\.ts$/, '.js')}`;
}

describe('layer rules', () => {
  let dir: Awaited<ReturnType<typeof makeTempDir>>;
  beforeAll(async () => {
    dir = await makeTempDir('layers');
  });
  afterAll(async () => {
    await dir.cleanup();
  });

  it('accepts the allowed directions: stages onto the floor, gateway onto stages, cli onto everything', async () => {
    const root = join(dir.path, 'allowed');
    const result = await lintLayers(root, {
      'src/errors.ts': [],
      'src/model/glob.ts': ['src/errors.ts'],
      'src/config/schema.ts': ['src/model/glob.ts'],
      'src/pipeline/stages.ts': ['src/model/glob.ts', 'src/config/schema.ts'],
      'src/policy/evaluate.ts': ['src/pipeline/stages.ts', 'src/model/glob.ts'],
      'src/tasks/session.ts': ['src/pipeline/stages.ts'],
      'src/gateway/governance.ts': ['src/policy/evaluate.ts', 'src/tasks/session.ts'],
      'src/ingress/http.ts': ['src/gateway/governance.ts'],
      'src/cli/main.ts': ['src/ingress/http.ts', 'src/policy/evaluate.ts'],
    });
    expect(result.output).toContain('no dependency violations found');
    expect(result.code).toBe(0);
  }); // one run of the tool: it loads TypeScript, seconds on a loaded machine

  // Every boundary crossed once in one tree (one run of the tool), each by files of its own.
  const crossings: [string, Tree, string][] = [
    [
      'a stage importing another stage',
      { 'src/tasks/store.ts': [], 'src/policy/governance.ts': ['src/tasks/store.ts'] },
      'stage-policy-imports-only-the-floor',
    ],
    [
      'a stage importing the gateway',
      { 'src/gateway/catalog.ts': [], 'src/integrity/registry.ts': ['src/gateway/catalog.ts'] },
      'stage-integrity-imports-only-the-floor',
    ],
    [
      'the floor importing a stage',
      { 'src/policy/glob.ts': [], 'src/model/catalog.ts': ['src/policy/glob.ts'] },
      'model-imports-nothing',
    ],
    [
      'config importing a stage',
      { 'src/identity/keys.ts': [], 'src/config/load.ts': ['src/identity/keys.ts'] },
      'config-and-state-on-the-floor',
    ],
    [
      'the pipeline importing a stage',
      { 'src/observe/logger.ts': [], 'src/pipeline/orchestrator.ts': ['src/observe/logger.ts'] },
      'pipeline-imports-only-the-floor',
    ],
    [
      'the gateway importing an edge',
      { 'src/ingress/stdio.ts': [], 'src/gateway/gateway.ts': ['src/ingress/stdio.ts'] },
      'gateway-not-into-edges',
    ],
    [
      'ingress skipping the gateway',
      { 'src/audit/store.ts': [], 'src/ingress/http.ts': ['src/audit/store.ts'] },
      'ingress-through-the-gateway',
    ],
    [
      'the console importing the gateway',
      { 'src/gateway/session.ts': [], 'src/console/api.ts': ['src/gateway/session.ts'] },
      'console-beside-the-gateway',
    ],
    [
      'anything importing the cli',
      { 'src/cli/common.ts': [], 'src/console/live.ts': ['src/cli/common.ts'] },
      'nothing-imports-the-cli',
    ],
    // The crossings once allowed by name (issue 23), each now refused like any other.
    [
      'the audit signing through the identity stage',
      { 'src/identity/keys.ts': [], 'src/audit/checkpoints.ts': ['src/identity/keys.ts'] },
      'stage-audit-imports-only-the-floor',
    ],
    [
      'the audit running the policy replay',
      { 'src/policy/replay.ts': [], 'src/audit/replay-source.ts': ['src/policy/replay.ts'] },
      'stage-audit-imports-only-the-floor',
    ],
    [
      'the secrets stage holding the egress stage',
      { 'src/egress/egress.ts': [], 'src/secrets/injector.ts': ['src/egress/egress.ts'] },
      'stage-secrets-imports-only-the-floor',
    ],
    [
      'two new folders importing each other',
      { 'src/replicas/a.ts': ['src/bridge/b.ts'], 'src/bridge/b.ts': ['src/replicas/c.ts'], 'src/replicas/c.ts': [] },
      'no-folder-cycle',
    ],
  ];
  let refused: { code: number; output: string };
  beforeAll(async () => {
    refused = await lintLayers(
      join(dir.path, 'crossings'),
      Object.assign({}, ...crossings.map(([, tree]) => tree)) as Tree,
    );
  });

  it('fails the lint when any boundary is crossed', () => expect(refused.code).not.toBe(0));

  it.each(crossings)('refuses %s, naming the rule', (_label, tree, rule) => {
    const [from, imports] = Object.entries(tree).find(([, targets]) => targets.length > 0)!;
    // Module rules name the import; the folder rule names the folders.
    const where = rule === 'no-folder-cycle' ? `${dirname(from)} → ` : `${from} → ${imports[0]}`;
    expect(refused.output).toContain(`error ${rule}: ${where}`);
  });
});
