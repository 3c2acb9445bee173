// `npm run lint` step: no file in src/ over 300 lines unless its first line says why
// (`// Over 300 lines: <reason>`; docs/architecture.md, "Layers"). Fails naming each file that lacks one.
// Usage: node scripts/lint-lengths.mjs [root]   (root defaults to this checkout; tests pass a temporary tree)
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAX_LINES = 300;
const REASON = /^\/\/ Over 300 lines: \S/;

const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));

function* sources(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (/\.(ts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) yield path;
  }
}

const failures = [];
let checked = 0;
for (const file of sources(join(root, 'src'))) {
  checked += 1;
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const count = text.endsWith('\n') ? lines.length - 1 : lines.length;
  if (count > MAX_LINES && !REASON.test(lines[0] ?? ''))
    failures.push(`${relative(root, file)}: ${count} lines and no "// Over 300 lines: <reason>" first line`);
}
if (failures.length > 0) {
  console.error(`lint-lengths: ${failures.length} file(s) in src/ over ${MAX_LINES} lines without a reason:`);
  for (const failure of failures) console.error(`  ${failure}`);
  console.error('Split the file where it does two jobs; where it does one, say why on its first line.');
  process.exit(1);
}
console.log(`lint-lengths: ${checked} files in src/, none over ${MAX_LINES} lines without a reason`);
