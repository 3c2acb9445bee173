#!/usr/bin/env node
// Runs the official MCP conformance suite (server scenarios) against our conformance fixtures,
// directly and through the gateway, and checks that the gateway loses nothing on the way.
//
//   node scripts/conformance.mjs [--era 2025|2026|both] [--target direct|gateway|both] [--scenario NAME]
//                                [--suite active|all|pending]
//
// Two eras, five runs, four processes under test (one per target, each serving its runs in turn):
//   2025 direct    0.1.16 (2025-11-25 scenarios) against test/fixtures/conformance-server.ts
//   2025 gateway   the same through the gateway (test/fixtures/conformance.config.json)
//   2026 direct    0.2.0-alpha.12 `--requirements 2026-07-28` against test/fixtures/conformance-2026-server.ts
//   2026 gateway   the same through the gateway in front of that 2026 fixture (conformance-2026.config.json)
//   2026 bridged   the same through the gateway in front of the 2025 fixture (conformance.config.json)
// The 2025 gateway run must give the direct run's counts exactly. In the 2026 runs, every scenario that
// passes direct must pass through the gateway, save the gaps named in KNOWN_GAPS (each with its reason,
// listed in the README); a named gap that closes fails the run too, so the list stays true. The 2026
// direct run may fail only the scenarios in FIXTURE_GAPS (what the fixture itself cannot pass).
//
// Governance is on through the gateway: the configs take only JWTs of the suite's issuer, a policy
// decides every call and list (default deny), and the audit records them. The suite reaches each
// gateway through a proxy that adds a short-lived token to every request (conformance-governance.mjs);
// a request without a token must be refused (401) before the runs; each gateway writes to a data
// folder of its own for this run, and its audit log is read back after its runs: every record must be
// the suite's principal's, and it must hold calls.
//
// Needs a build first (npm run conformance builds). The suite crashes on Node 20, so it runs on a
// Node 22 binary fetched by npx, once per suite package: the script calls that binary and the suite's
// entry directly, and remembers both paths in .warden/conformance-suites.json, so a later run starts
// no npx while they are still there (each npx call costs about 2 s of CPU, as much as a suite run).
// `--suite` applies to the 2025 runs; `--scenario` to both (2026: at the 2026-07-28 wire). Exit status:
// 0 when every run ran and every rule above holds (with one target: when its runs fail nothing beyond
// the fixture's own gaps); 1 when a rule does not hold; 2 when a target or the suite could not be run.
// Every process started here is stopped before exit.
import { execFile, spawn } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { auditSummary, refusesWithoutToken, startAuthProxy, suiteSigner } from './conformance-governance.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SUITE_NODE = 'node@22';
const SUITES = {
  2025: { package: '@modelcontextprotocol/conformance@0.1.16' },
  2026: { package: '@modelcontextprotocol/conformance@0.2.0-alpha.12', requirements: '2026-07-28' },
};
const READY_TIMEOUT_MS = 30_000;
const SUITE_TIMEOUT_MS = 15 * 60_000;
const STOP_GRACE_MS = 3_000;

/**
 * How to start each target and recognise the line that says it is ready. A gateway (`config`) is
 * governed: reached through the token proxy, its audit log read back after its runs. The 2025 fixture
 * lists the tools of the 2026 scenarios too (FIXTURE_2026_TOOLS, as conformance.config.json sets it), so
 * the 2025 runs direct and through the gateway see the same fixture.
 */
const TARGETS = {
  direct: {
    entry: 'dist/test/fixtures/conformance-server.js',
    args: ['dist/test/fixtures/conformance-server.js', '--http', '--port', '0', '--host', '127.0.0.1'],
    env: { FIXTURE_2026_TOOLS: '1' },
    ready: /^fixture listening on (http:\/\/\S+)$/,
  },
  gateway: {
    entry: 'bin/mcp-warden.js',
    config: 'test/fixtures/conformance.config.json',
    args: ['bin/mcp-warden.js', 'serve', '--config', 'test/fixtures/conformance.config.json', '--port', '0'],
    ready: /^mcp-warden listening on (http:\/\/\S+)$/,
  },
  'direct-2026': {
    entry: 'dist/test/fixtures/conformance-2026-server.js',
    args: ['dist/test/fixtures/conformance-2026-server.js', '--http', '--port', '0', '--host', '127.0.0.1'],
    ready: /^fixture listening on (http:\/\/\S+)$/,
  },
  'gateway-2026': {
    entry: 'bin/mcp-warden.js',
    config: 'test/fixtures/conformance-2026.config.json',
    args: ['bin/mcp-warden.js', 'serve', '--config', 'test/fixtures/conformance-2026.config.json', '--port', '0'],
    ready: /^mcp-warden listening on (http:\/\/\S+)$/,
  },
};

/** Each run: a suite (era) against a target; runs of one target share its process, in this order. */
const RUNS = [
  { name: '2025 direct', era: '2025', target: 'direct', side: 'direct' },
  { name: '2025 gateway', era: '2025', target: 'gateway', side: 'gateway' },
  { name: '2026 bridged', era: '2026', target: 'gateway', side: 'gateway' },
  { name: '2026 direct', era: '2026', target: 'direct-2026', side: 'direct' },
  { name: '2026 gateway', era: '2026', target: 'gateway-2026', side: 'gateway' },
];

/**
 * 2026-07-28 scenarios the 2026 fixture itself does not pass (README, Conformance). `tasks-*` are the
 * Tasks extension (not scored for 2026-07-28; the fixture has no tasks).
 */
const FIXTURE_GAPS = new Map([
  ['tasks-*', 'the Tasks extension: not scored for 2026-07-28, and the fixture implements no tasks'],
  [
    'json-schema-2020-12',
    'pending in the suite: the SDK v2 server drops allOf, if/then/else and $anchor from a listed inputSchema',
  ],
  [
    'http-custom-header-server-validation',
    'pending in the suite: the fixture has no tool with x-mcp-header parameters',
  ],
]);

/** Scenarios that pass direct but not (yet) through the gateway, per run, with the reason (README): none today. */
const KNOWN_GAPS = {
  '2026 gateway': new Map(),
  '2026 bridged': new Map(),
};

function gapReason(gaps, scenario) {
  for (const [pattern, reason] of gaps) {
    if (pattern === scenario || (pattern.endsWith('*') && scenario.startsWith(pattern.slice(0, -1)))) return reason;
  }
  return undefined;
}

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
function startTarget(name, logPath, dataDir) {
  const target = TARGETS[name];
  if (!existsSync(join(ROOT, target.entry))) {
    throw new SetupError(`${name}: ${target.entry} not found (build first: npx tsc -p tsconfig.build.json)`);
  }
  const log = createWriteStream(logPath);
  const env = {
    ...process.env,
    CI: 'true',
    ...target.env,
    ...(dataDir !== undefined && { MCP_WARDEN_DATA_DIR: dataDir }),
  };
  const child = start(name, process.execPath, target.args, { cwd: ROOT, env });
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

/** The Node 22 binary and the suite's entry of each package, found by one npx call per package. */
const resolvedSuites = new Map();
/** Where the paths npx found are kept between runs, by `node@22 <package>`. */
const SUITE_PATHS = join(ROOT, '.warden', 'conformance-suites.json');

function rememberedSuites() {
  try {
    return JSON.parse(readFileSync(SUITE_PATHS, 'utf8'));
  } catch {
    return {}; // none yet, or unreadable: npx finds them again
  }
}

/** The paths an earlier run's npx found for `era`, if both are still there. */
function rememberedSuite(era) {
  const found = rememberedSuites()[`${SUITE_NODE} ${SUITES[era].package}`];
  return found && existsSync(found.node) && existsSync(found.entry) ? found : undefined;
}

function rememberSuite(era, found) {
  const all = { ...rememberedSuites(), [`${SUITE_NODE} ${SUITES[era].package}`]: found };
  mkdirSync(dirname(SUITE_PATHS), { recursive: true });
  const next = `${SUITE_PATHS}.${process.pid}`;
  writeFileSync(next, `${JSON.stringify(all, null, 2)}\n`);
  renameSync(next, SUITE_PATHS);
}

async function resolveSuite(era) {
  if (resolvedSuites.has(era)) return resolvedSuites.get(era);
  const remembered = rememberedSuite(era);
  if (remembered) {
    resolvedSuites.set(era, remembered);
    return remembered;
  }
  const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
  const find =
    'process.stdout.write(process.execPath + "\\n" + require("node:child_process").execSync("command -v conformance"))';
  const args = ['-y', '-p', SUITE_NODE, '-p', SUITES[era].package, '--', 'node', '-e', find];
  let stdout;
  try {
    ({ stdout } = await promisify(execFile)(npx, args, { cwd: tmpdir(), timeout: 5 * 60_000 }));
  } catch (error) {
    throw new SetupError(`could not fetch ${SUITES[era].package} on ${SUITE_NODE}: ${error.message}`);
  }
  const [node, entry] = stdout.trim().split('\n');
  if (!node || !entry) throw new SetupError(`could not find ${SUITES[era].package}'s entry: ${stdout}`);
  const found = { node, entry };
  resolvedSuites.set(era, found);
  rememberSuite(era, found);
  return found;
}

async function runSuite(url, outDir, era, { scenario, suite }) {
  const { node, entry } = await resolveSuite(era);
  const args = [entry, 'server', '--url', url, '-o', join(outDir, 'results')];
  if (scenario) args.push('--scenario', scenario, ...(era === '2026' ? ['--spec-version', '2026-07-28'] : []));
  else if (era === '2026') args.push('--requirements', SUITES[era].requirements);
  else args.push('--suite', suite);
  const child = start('suite', node, args, { cwd: outDir, env: { ...process.env, CI: 'true', NO_COLOR: '1' } });
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

/** Checks that were not SUCCESS, from the suite's checks.json files, for the report (not the fixture's own gaps). */
function notableChecks(outDir) {
  const resultsDir = join(outDir, 'results');
  if (!existsSync(resultsDir)) return [];
  const notable = [];
  for (const dir of readdirSync(resultsDir)) {
    const file = join(resultsDir, dir, 'checks.json');
    if (!existsSync(file)) continue;
    const scenario = dir.replace(/^server-/, '').replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
    if (gapReason(FIXTURE_GAPS, scenario) !== undefined) continue;
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

const slug = (name) => name.replace(/\s+/g, '-');

/**
 * Starts one target and runs its suites in turn; returns each run's per-scenario counts. A governed
 * target (a gateway) is reached through the token proxy, and its audit log is read back once it has
 * stopped: its summary is printed, and what is wrong with it goes to `problems`.
 */
async function runTarget(target, runs, workDir, options, token, problems) {
  const targetDir = join(workDir, target);
  mkdirSync(targetDir, { recursive: true });
  const { config } = TARGETS[target];
  const dataDir = config === undefined ? undefined : join(targetDir, 'data');
  const results = new Map();
  let proxy;
  try {
    const gatewayUrl = await startTarget(target, join(targetDir, `${target}.log`), dataDir);
    if (config !== undefined) {
      const refusal = await refusesWithoutToken(gatewayUrl);
      if (refusal !== undefined) problems.push(`${target}: governance is off: ${refusal}`);
      else console.log(`conformance: ${target} refuses a request without a token (401)`);
      proxy = await startAuthProxy(gatewayUrl, token);
    }
    const url = proxy?.url ?? gatewayUrl;
    for (const run of runs) {
      const outDir = join(targetDir, slug(run.name));
      mkdirSync(outDir, { recursive: true });
      console.log(
        `conformance: ${run.name}: ${target} at ${gatewayUrl}${proxy ? ` (tokens added by ${url})` : ''}; ` +
          `${SUITES[run.era].package} on ${SUITE_NODE}`,
      );
      const scenarios = await runSuite(url, outDir, run.era, options);
      for (const [scenario, counts] of scenarios) {
        const mark = counts.failed === 0 ? '✓' : '✗';
        console.log(`  ${mark} ${scenario}: ${counts.passed} passed, ${counts.failed} failed`);
      }
      for (const line of notableChecks(outDir)) console.log(`    ${line}`);
      results.set(run.name, scenarios);
    }
  } finally {
    await stopAll();
    await proxy?.close();
  }
  if (config !== undefined) {
    let audit;
    try {
      audit = await auditSummary(ROOT, config, dataDir, options.scenario === undefined);
    } catch (error) {
      throw new SetupError(`${target}: its audit log could not be read: ${error.message}`);
    }
    console.log(`conformance: ${target} audit: ${audit.summary}`);
    for (const problem of audit.problems) problems.push(`${target} audit: ${problem}`);
  }
  return results;
}

/** 2025: the gateway gives the direct counts exactly. */
function compareExact(direct, gateway) {
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

/** 2026: what passes direct passes through the gateway, save the named gaps; a named gap may not close. */
function comparePasses(direct, gateway, gaps) {
  const problems = [];
  for (const [scenario, d] of direct) {
    if (d.failed > 0) continue;
    const g = gateway.get(scenario);
    const passes = g !== undefined && g.failed === 0 && g.passed > 0 === d.passed > 0;
    const reason = gapReason(gaps, scenario);
    if (!passes && reason === undefined) {
      problems.push(
        `${scenario} passes direct but not through the gateway (${g ? `${g.passed}/${g.failed}` : 'absent'})`,
      );
    }
    if (passes && reason !== undefined) problems.push(`${scenario} now passes: remove it from KNOWN_GAPS`);
  }
  return problems;
}

/** Scenarios a run failed that the fixture is not known to fail. */
function beyondFixtureGaps(scenarios) {
  return [...scenarios].filter(([name, c]) => c.failed > 0 && gapReason(FIXTURE_GAPS, name) === undefined);
}

async function main() {
  const { values } = parseArgs({
    options: {
      era: { type: 'string', default: 'both' },
      target: { type: 'string', default: 'both' },
      scenario: { type: 'string' },
      suite: { type: 'string', default: 'active' },
    },
    strict: true,
  });
  if (!['direct', 'gateway', 'both'].includes(values.target)) {
    throw new SetupError(`--target must be direct, gateway or both, got ${values.target}`);
  }
  if (!['2025', '2026', 'both'].includes(values.era)) {
    throw new SetupError(`--era must be 2025, 2026 or both, got ${values.era}`);
  }
  const runs = RUNS.filter(
    (run) =>
      (values.era === 'both' || run.era === values.era) && (values.target === 'both' || run.side === values.target),
  );
  const workDir = mkdtempSync(join(tmpdir(), 'mcp-warden-conformance-'));
  console.log(`conformance: logs and results in ${workDir}`);

  const results = new Map();
  const broken = [];
  const problems = [];
  const targets = new Set(runs.map((run) => run.target));
  const token = [...targets].some((target) => TARGETS[target].config) ? await suiteSigner(ROOT) : undefined;
  for (const target of targets) {
    try {
      const done = await runTarget(
        target,
        runs.filter((run) => run.target === target),
        workDir,
        values,
        token,
        problems,
      );
      for (const [name, scenarios] of done) results.set(name, scenarios);
    } catch (error) {
      if (!(error instanceof SetupError)) throw error;
      broken.push(target);
      console.error(`conformance: ${error.message}`);
    }
  }

  for (const [name, scenarios] of results) {
    const { passed, failed } = totals(scenarios);
    console.log(`conformance: ${passed} passed, ${failed} failed (${name})`);
  }
  for (const name of broken) console.log(`conformance: ${name} did not run`);
  if (broken.length > 0) return 2;

  const both = values.target === 'both';
  if (both && results.has('2025 direct')) {
    const differences = compareExact(results.get('2025 direct'), results.get('2025 gateway'));
    if (differences.length > 0) problems.push(`2025 gateway differs from direct: ${differences.join('; ')}`);
  }
  if (both && results.has('2026 direct')) {
    for (const name of ['2026 gateway', '2026 bridged']) {
      for (const problem of comparePasses(results.get('2026 direct'), results.get(name), KNOWN_GAPS[name])) {
        problems.push(`${name}: ${problem}`);
      }
    }
  }
  for (const [name, scenarios] of results) {
    // Alone, a run is held to what the fixture passes; beside direct, the comparisons above decide.
    if (both && name !== '2026 direct') continue;
    const failing = name.startsWith('2025')
      ? [...scenarios].filter(([, c]) => c.failed > 0)
      : beyondFixtureGaps(scenarios);
    if (failing.length > 0) problems.push(`${name} fails ${failing.map(([scenario]) => scenario).join(', ')}`);
  }
  for (const problem of problems) console.log(`conformance: ${problem}`);
  if (problems.length > 0) return 1;
  if (!both) console.log('conformance: no unexpected failures');
  if (both && results.has('2025 direct')) console.log('conformance: the 2025 gateway run matches direct');
  if (both && results.has('2026 direct')) {
    console.log('conformance: the 2026 gateway runs pass what direct passes, save the gaps named in the README');
  }
  return 0;
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
