#!/usr/bin/env node
// Builds (tsc -p tsconfig.build.json) only when a source is newer than the last build, so `npm start`
// does not spend half a minute compiling what is already compiled.
//
//   node scripts/build-if-stale.mjs [--root DIR] [--check]
//
// The sources are the folders tsconfig.build.json includes, plus the tsconfig files and package.json;
// a folder's own time counts too, so a deleted or renamed file also means a build. After a successful
// build, dist/.build-stamp is given the time the build started. Prints one line to stderr saying which
// it did. Exit status: tsc's when it built, 0 when nothing was to do. --check only says whether a build
// is due (exit 1 when it is).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { root: { type: 'string' }, check: { type: 'boolean' } } });
const root = resolve(values.root ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
const stamp = join(root, 'dist', '.build-stamp');
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];

/** The newest modification time under `path` (files and folders), skipping what is not a source. */
function newest(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    latest = Math.max(latest, newest(join(path, entry.name)));
  }
  return latest;
}

function sourcesTime() {
  const build = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8'));
  const folders = Array.isArray(build.include) ? build.include : ['src'];
  return Math.max(...[...folders, ...CONFIG_FILES].map((name) => newest(join(root, name))));
}

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : -1;
if (built >= sourcesTime()) {
  process.stderr.write('build: dist is up to date with the sources (no tsc run)\n');
  process.exit(0);
}

if (values.check) {
  process.stderr.write('build: sources changed since the last build; a build is due\n');
  process.exit(1);
}
process.stderr.write('build: sources changed since the last build; running tsc -p tsconfig.build.json\n');
const started = new Date();
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
mkdirSync(dirname(stamp), { recursive: true });
writeFileSync(stamp, `${started.toISOString()}\n`);
utimesSync(stamp, started, started);
