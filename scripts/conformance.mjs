#!/usr/bin/env node
// Runs the official MCP conformance suite (server scenarios) against our conformance fixture,
// directly and through the gateway, and checks that the gateway changes nothing.
//
//   node scripts/conformance.mjs [--target direct|gateway|both] [--scenario NAME] [--suite active|all|pending]
//
// Needs a build first (npm run conformance builds). The suite crashes on Node 20, so it runs on a
// Node 22 binary fetched by npx. Exit status: 0 when every target ran and, with both targets, the
// per-scenario counts agree (with one target: no failed checks); 1 when they do not; 2 when a
// target or the suite could not be run. Every process started here is stopped before exit.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SUITE_PACKAGE = '@modelcontextprotocol/conformance@0.1.16';
const SUITE_NODE = 'node@22';
const READY_TIMEOUT_MS = 30_000;
const SUITE_TIMEOUT_MS = 15 * 60_000;
const STOP_GRACE_MS = 3_000;

/** How to start each target and recognise the line that says it is ready. */
const TARGETS = {
  direct: {
    entry: 'dist/test/fixtures/conformance-server.js',
    args: ['dist/test/fixtures/conformance-server.js', '--http', '--port', '0', '--host', '127.0.0.1'],
    ready: /^fixture listening on (http:\/\/\S+)$/,
  },
  gateway: {
    entry: 'bin/mcp-warden.js',
    args: ['bin/mcp-warden.js', 'serve', '--config', 'test/fixtures/conformance.config.json', '--port', '0'],
    ready: /^mcp-warden listening on (http:\/\/\S+)$/,
  },
};

class SetupError extends Error {}

// ---------------------------------------------------------------- processes

/** Every child started here, still running. Each leads its own process group. */
const running = new Set();

function start(label, command, args, options) {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...options });
  child.label = label;
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.once('error', () => running.delete(child));
  return child;
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal); // the group: npx and the suite, or the gateway and its downstreams
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

async function stop(child) {
  if (child.pid === undefined) return;
  const exited = child.exitCode !== null || child.signalCode !== null;
  const gone = exited ? Promise.resolve() : new Promise((resolveExit) => child.once('exit', resolveExit));
  signalGroup(child, 'SIGTERM');
  let timer;
  const late = new Promise((resolveLate) => (timer = setTimeout(() => resolveLate('late'), STOP_GRACE_MS)));
  if ((await Promise.race([gone, late])) === 'late') {
    signalGroup(child, 'SIGKILL');
    await gone;
  }
  clearTimeout(timer);
  signalGroup(child, 'SIGKILL'); // stragglers left in the group after its leader exited
}

async function stopAll() {
  await Promise.all([...running].map(stop));
}

process.once('exit', () => {
  for (const child of running) signalGroup(child, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`conformance: ${signal}, stopping`);
    stopAll().finally(() => process.exit(130));
  });
}

/** Starts a target and resolves with the URL from its ready line; its output goes to `logPath`. */
function startTarget(name, logPath) {
  const target = TARGETS[name];
  if (!existsSync(join(ROOT, target.entry))) {
    throw new SetupError(`${name}: ${target.entry} not found (build first: npx tsc -p tsconfig.build.json)`);
  }
  const log = createWriteStream(logPath);
  const child = start(name, process.execPath, target.args, { cwd: ROOT, env: { ...process.env, CI: 'true' } });
  child.stderr.pipe(log);
  let stderrTail = '';
  child.stderr.on('data', (chunk) => (stderrTail = (stderrTail + chunk).slice(-2000)));

  return new Promise((resolveUrl, reject) => {
    const fail = (why) => reject(new SetupError(`${name}: ${why}\n${stderrTail.trim()}`));
    const timer = setTimeout(() => fail(`no ready line within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    child.once('error', (error) => fail(`could not start: ${error.message}`));
    child.once('exit', (code, signal) => fail(`exited (${signal ?? code}) before it was ready`));
    // Keep reading stdout after the ready line so the pipe never fills.
    createInterface({ input: child.stdout }).on('line', (line) => {
      log.write(`${line}\n`);
      const match = target.ready.exec(line.trim());
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
  });
}

// ---------------------------------------------------------------- the suite

async function runSuite(url, outDir, { scenario, suite }) {
  const args = ['-y', '-p', SUITE_NODE, '-p', SUITE_PACKAGE, '--', 'conformance', 'server', '--url', url];
  args.push('-o', join(outDir, 'results'), ...(scenario ? ['--scenario', scenario] : ['--suite', suite]));
  const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
  const child = start('suite', npx, args, { cwd: outDir, env: { ...process.env, CI: 'true', NO_COLOR: '1' } });
  const log = createWriteStream(join(outDir, 'suite.log'));
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stdout.pipe(log);
  child.stderr.pipe(log);

  let timer;
  const outcome = await new Promise((resolveRun) => {
    timer = setTimeout(() => resolveRun({ error: `timed out after ${SUITE_TIMEOUT_MS} ms` }), SUITE_TIMEOUT_MS);
    child.once('error', (error) => resolveRun({ error: error.message }));
    child.once('close', (code, signal) => resolveRun({ code, signal }));
  });
  clearTimeout(timer);
  await stop(child);
  if (outcome.error) throw new SetupError(`suite: ${outcome.error}`);
  return parseCounts(stdout, scenario);
}

/** Per-scenario counts from the suite's summary (`✓ name: N passed, M failed`). */
function parseCounts(stdout, scenario) {
  const scenarios = new Map();
  for (const match of stdout.matchAll(/^[✓✗] (\S+): (\d+) passed, (\d+) failed$/gmu)) {
    scenarios.set(match[1], { passed: Number(match[2]), failed: Number(match[3]) });
  }
  // A single --scenario run prints `Passed: X/Y, F failed, W warnings` instead of a summary.
  const single = /^Passed: (\d+)\/\d+, (\d+) failed/m.exec(stdout);
  if (scenario && single) scenarios.set(scenario, { passed: Number(single[1]), failed: Number(single[2]) });
  if (scenarios.size === 0) throw new SetupError('suite: no results in its output (see suite.log)');
  return scenarios;
}

/** Checks that were not SUCCESS, from the suite's checks.json files, for the report. */
function notableChecks(outDir) {
  const resultsDir = join(outDir, 'results');
  if (!existsSync(resultsDir)) return [];
  const notable = [];
  for (const dir of readdirSync(resultsDir)) {
    const file = join(resultsDir, dir, 'checks.json');
    if (!existsSync(file)) continue;
    const scenario = dir.replace(/^server-/, '').replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
    for (const check of JSON.parse(readFileSync(file, 'utf8'))) {
      if (check.status === 'FAILURE' || check.status === 'WARNING') {
        notable.push(
          `${check.status.toLowerCase()} ${scenario} / ${check.name}: ${check.errorMessage ?? check.description}`,
        );
      }
    }
  }
  return notable;
}

function totals(scenarios) {
  let passed = 0;
  let failed = 0;
  for (const counts of scenarios.values()) {
    passed += counts.passed;
    failed += counts.failed;
  }
  return { passed, failed };
}

// ---------------------------------------------------------------- main

async function runTarget(name, workDir, suiteOptions) {
  const outDir = join(workDir, name);
  mkdirSync(outDir, { recursive: true });
  try {
    const url = await startTarget(name, join(outDir, `${name}.log`));
    console.log(`conformance: ${name} ready at ${url}; running ${SUITE_PACKAGE} on ${SUITE_NODE}`);
    const scenarios = await runSuite(url, outDir, suiteOptions);
    for (const [scenario, counts] of scenarios) {
      console.log(`  ${counts.failed === 0 ? '✓' : '✗'} ${scenario}: ${counts.passed} passed, ${counts.failed} failed`);
    }
    for (const line of notableChecks(outDir)) console.log(`    ${line}`);
    return scenarios;
  } finally {
    await stopAll();
  }
}

function compare(direct, gateway) {
  const differences = [];
  for (const scenario of new Set([...direct.keys(), ...gateway.keys()])) {
    const d = direct.get(scenario);
    const g = gateway.get(scenario);
    if (!d || !g || d.passed !== g.passed || d.failed !== g.failed) {
      const show = (c) => (c ? `${c.passed}/${c.failed}` : 'absent');
      differences.push(`${scenario} (direct ${show(d)}, gateway ${show(g)} passed/failed)`);
    }
  }
  return differences;
}

async function main() {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'both' },
      scenario: { type: 'string' },
      suite: { type: 'string', default: 'active' },
    },
    strict: true,
  });
  if (!['direct', 'gateway', 'both'].includes(values.target)) {
    throw new SetupError(`--target must be direct, gateway or both, got ${values.target}`);
  }
  const names = values.target === 'both' ? ['direct', 'gateway'] : [values.target];
  const workDir = mkdtempSync(join(tmpdir(), 'mcp-warden-conformance-'));
  console.log(`conformance: logs and results in ${workDir}`);

  const results = new Map();
  const broken = [];
  for (const name of names) {
    try {
      results.set(name, await runTarget(name, workDir, values));
    } catch (error) {
      if (!(error instanceof SetupError)) throw error;
      broken.push(name);
      console.error(`conformance: ${error.message}`);
    }
  }

  for (const [name, scenarios] of results) {
    const { passed, failed } = totals(scenarios);
    console.log(`conformance: ${passed} passed, ${failed} failed (${name})`);
  }
  for (const name of broken) console.log(`conformance: ${name} did not run`);
  if (broken.length > 0) return 2;

  if (names.length === 1) return totals(results.get(names[0])).failed === 0 ? 0 : 1;
  const differences = compare(results.get('direct'), results.get('gateway'));
  if (differences.length === 0) {
    console.log('conformance: gateway matches direct');
    return 0;
  }
  console.log(
    `conformance: gateway differs from direct in ${differences.length} scenario(s): ${differences.join('; ')}`,
  );
  return 1;
}

main()
  .catch((error) => {
    const usage = error instanceof SetupError || String(error?.code).startsWith('ERR_PARSE_ARGS');
    console.error(`conformance: ${usage ? error.message : (error?.stack ?? String(error))}`);
    return 2;
  })
  .then(async (code) => {
    await stopAll();
    process.exit(code);
  });
