#!/usr/bin/env node
// `npm test`: vitest and the conformance run side by side, so the suite's wall time is not their sum.
//
//   node scripts/test.mjs                 the whole suite: vitest, and scripts/conformance.mjs beside it
//   node scripts/test.mjs test/x.test.ts  vitest only, with these arguments (a subset during development)
//
// Vitest owns the terminal; the conformance run's output is kept and printed after vitest ends, so the
// two never interleave. Each runs to its end whatever the other does (a failing vitest test never
// hides the conformance result). Exit status: 0 only when both exit 0.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const args = process.argv.slice(2);

/** Runs a child to its end; resolves with its exit code (1 when it could not start or was killed). */
function run(command, argv, options) {
  return new Promise((resolveRun) => {
    const child = spawn(command, argv, { cwd: ROOT, ...options });
    child.once('error', (error) => {
      process.stderr.write(`npm test: cannot run ${argv.join(' ')}: ${error.message}\n`);
      resolveRun(1);
    });
    child.once('exit', (code, signal) => resolveRun(code ?? (signal ? 1 : 0)));
    children.push(child);
  });
}

const children = [];
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of children) child.kill(signal);
  });
}

if (args.length > 0) {
  process.exitCode = await run(process.execPath, [VITEST, 'run', ...args], { stdio: 'inherit' });
} else {
  const kept = [];
  const conformance = run(process.execPath, [join(ROOT, 'scripts', 'conformance.mjs')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const conformanceChild = children.at(-1);
  conformanceChild.stdout.on('data', (chunk) => kept.push(chunk));
  conformanceChild.stderr.on('data', (chunk) => kept.push(chunk));
  const vitestCode = await run(process.execPath, [VITEST, 'run'], { stdio: 'inherit' });
  const conformanceCode = await conformance;
  process.stdout.write(`\n--- conformance (ran beside vitest) ---\n${Buffer.concat(kept).toString('utf8')}`);
  process.stderr.write(`npm test: vitest exit ${vitestCode}, conformance exit ${conformanceCode}\n`);
  process.exitCode = vitestCode === 0 && conformanceCode === 0 ? 0 : 1;
}
