// How long short `mcp-warden` commands take from spawn to exit (not part of npm test). Run after a build:
//   node scripts/build-if-stale.mjs && node bench/cli-start.mjs [--rounds 7] [--bin bin/mcp-warden.js]
// Each command runs as a person or a test runs it: a fresh node process on the compiled CLI, against a
// config with the built-in issuer in a temp folder. Commands alternate within each round so a busy
// machine slows all of them alike. Prints p50 and the slowest run per command, in milliseconds.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/measure.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { rounds: { type: 'string' }, bin: { type: 'string' } } });
const rounds = Number(values.rounds ?? 7);
const bin = resolve(ROOT, values.bin ?? 'bin/mcp-warden.js');

const dir = mkdtempSync(join(tmpdir(), 'warden-cli-bench-'));
const config = join(dir, 'mcp.config.json');
writeFileSync(
  config,
  JSON.stringify({
    version: 1,
    dataDir: './data',
    auth: { mode: 'jwt', resource: 'http://gateway.test/mcp', builtin: {} },
    servers: {},
  }),
);

const COMMANDS = {
  '--version': ['--version'],
  'token issue': ['token', 'issue', '--sub', 'agent:bench', '--config', config],
  'task list': ['task', 'list', '--config', config],
  'config check': ['config', 'check', config],
};

function run(args) {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`mcp-warden ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return ms;
}

try {
  run(COMMANDS['token issue']); // creates the data folder and the first key, outside the figures
  const samples = Object.fromEntries(Object.keys(COMMANDS).map((name) => [name, []]));
  for (let round = 0; round < rounds; round += 1) {
    for (const [name, args] of Object.entries(COMMANDS)) samples[name].push(run(args));
  }
  console.log(`mcp-warden command start-up, ${rounds} rounds (${bin})`);
  for (const [name, times] of Object.entries(samples)) {
    console.log(
      `  ${name.padEnd(14)} p50 ${median(times).toFixed(0).padStart(6)} ms   max ${Math.max(...times)
        .toFixed(0)
        .padStart(6)} ms`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
