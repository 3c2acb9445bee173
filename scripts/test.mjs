#!/usr/bin/env node
// `npm test`: vitest and the conformance run side by side, so the suite's wall time is not their sum.
//
//   node scripts/test.mjs                 the whole suite: vitest, and scripts/conformance.mjs beside it
//   node scripts/test.mjs test/x.test.ts  vitest only, with these arguments (a subset during development)
//
// Vitest owns the terminal; the conformance run's output is kept and printed after vitest ends, so the
// two never interleave. Each runs to its end whatever the other does (a failing vitest test never
// hides the conformance result). Exit status: 0 only when both exit 0.
//
// The whole suite ends with a short list of the vitest tests that failed (from vitest's JSON report),
// after the conformance output: a log read from its tail (CI keeps only the tail) still names them.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
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
  const reportDir = mkdtempSync(join(tmpdir(), 'mcp-warden-vitest-'));
  const report = join(reportDir, 'report.json');
  const vitestCode = await run(
    process.execPath,
    [VITEST, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
    { stdio: 'inherit' },
  );
  const conformanceCode = await conformance;
  process.stdout.write(`\n--- conformance (ran beside vitest) ---\n${Buffer.concat(kept).toString('utf8')}`);
  if (vitestCode !== 0) process.stderr.write(failedTests(report));
  rmSync(reportDir, { recursive: true, force: true });
  process.stderr.write(`npm test: vitest exit ${vitestCode}, conformance exit ${conformanceCode}\n`);
  process.exitCode = vitestCode === 0 && conformanceCode === 0 ? 0 : 1;
}

/** The failed vitest tests named in the JSON report, one line each with the error's first line. */
function failedTests(reportPath) {
  let report;
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8'));
  } catch (error) {
    return `npm test: vitest failed and left no readable JSON report (${error.message})\n`;
  }
  const lines = [];
  for (const file of report.testResults ?? []) {
    const name = relative(ROOT, file.name);
    const failed = (file.assertionResults ?? []).filter((test) => test.status === 'failed');
    for (const test of failed) {
      const first = String(test.failureMessages?.[0] ?? '').split('\n')[0];
      lines.push(`  ${name} > ${test.fullName}: ${first.slice(0, 300)}`);
    }
    if (failed.length === 0 && file.status === 'failed') {
      lines.push(
        `  ${name}: ${String(file.message ?? 'failed outside a test')
          .split('\n')[0]
          .slice(0, 300)}`,
      );
    }
  }
  if (lines.length === 0) return 'npm test: vitest failed, but its report names no failed test\n';
  return `npm test: vitest failures (${lines.length}):\n${lines.join('\n')}\n`;
}
