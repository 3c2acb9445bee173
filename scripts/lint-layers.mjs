// `npm run lint` step: the layer rules of src/ (.dependency-cruiser.cjs, docs/architecture.md "Layers").
// A violation prints the rule's name and why it exists, and fails the lint.
// Usage: node scripts/lint-layers.mjs [root]   (root defaults to this checkout; tests pass a temporary tree)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = resolve(process.argv[2] ?? here);
const bin = join(here, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

if (!existsSync(bin)) {
  // A checkout whose node_modules predates the dependency: an unchecked rule is not a passed one.
  console.error('lint-layers: dependency-cruiser is not installed (run npm install); the layer rules were NOT checked');
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  [bin, 'src', '--config', join(here, '.dependency-cruiser.cjs'), '--output-type', 'err-long'],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
