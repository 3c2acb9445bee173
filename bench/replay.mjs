// Policy replay benchmark (not part of npm test). Runs against dist/: `npm run build && node bench/replay.mjs`.
//   1. fills an audit database with N recorded calls (intent + outcome each) through the real audit stage
//      (openAuditSink: group commit, hash chain, checkpoints), each decided by the real authorize stage
//      under the policy "in force" (100 agents, 50 tools on 5 servers, tasks with grants, argument rules),
//      and after every 100th call a tools/list of the 50 tools decided the same way (list records)
//   2. replays all of them against a proposed policy: in-process (replayRecorded over recordedRequests) and as the whole
//      `mcp-warden policy replay --json` process
// Options: --calls N (default 1000000), --dir DIR (where the database goes; a database already filled
// there with the same N is reused), --keep (leave the database behind).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';

const ROOT = resolve(import.meta.dirname, '..');
const { openAuditSink } = await import(join(ROOT, 'dist/src/audit/open.js'));
const { openAuditDb, auditFile } = await import(join(ROOT, 'dist/src/audit/store.js'));
const { recordedRequests } = await import(join(ROOT, 'dist/src/audit/replay-source.js'));
const { replayRecorded } = await import(join(ROOT, 'dist/src/policy/replay.js'));
const { PolicyAuthorizer } = await import(join(ROOT, 'dist/src/policy/authorizer.js'));
const { compilePolicy } = await import(join(ROOT, 'dist/src/policy/compile.js'));
const { parsePolicyText } = await import(join(ROOT, 'dist/src/policy/load.js'));

const { values } = parseArgs({
  options: { calls: { type: 'string', default: '1000000' }, dir: { type: 'string' }, keep: { type: 'boolean' } },
});
const calls = Number(values.calls);
const base = values.dir ? resolve(values.dir) : mkdtempSync(join(tmpdir(), 'warden-replay-bench-'));
const dataDir = join(base, `replay-${calls}`);
const logger = pino({ level: 'silent' });

const SERVERS = ['crm', 'tickets', 'notes', 'files', 'search'];
const TOOLS = Array.from({ length: 50 }, (_, i) => `${SERVERS[i % 5]}__tool_${i}`);
const AGENTS = Array.from({ length: 100 }, (_, i) => `agent:${['triage', 'editor', 'reader', 'ops'][i % 4]}-${i}`);

const IN_FORCE = `version: 1
roles:
  reader:
    grants:
      - { id: read-all, effect: allow, tools: ["*__tool_1*", "*__tool_2*", "search__*"] }
  writer:
    grants:
      - id: write-tickets
        effect: allow
        tools: ["tickets__*"]
        arguments: { type: object, properties: { priority: { enum: [low, medium, high] } } }
      - { id: write-notes, effect: allow, tools: ["notes__*"], task: required }
agents:
  - { id: triage, match: { subject: "agent:triage-*" }, roles: [reader, writer] }
  - { id: editors, match: { subject: "agent:editor-*" }, roles: [reader, writer] }
  - { id: readers, match: { subject: "agent:reader-*" }, roles: [reader] }
  - id: ops
    match: { subject: "agent:ops-*" }
    roles: [reader]
    grants:
      - { id: ops-files, effect: allow, tools: ["files__*"], rateLimit: { calls: 1000, perSeconds: 1 } }
grants:
  - { id: no-tool-49, effect: deny, tools: ["*__tool_49"] }
`;

// Tighter: urgent tickets need approval, files are limited harder, editors lose search, crm tool_11 is denied.
const PROPOSED = `version: 1
roles:
  reader:
    grants:
      - { id: read-all, effect: allow, tools: ["*__tool_1*", "*__tool_2*", "search__*"] }
  writer:
    grants:
      - id: write-tickets
        effect: allow
        tools: ["tickets__*"]
        arguments: { type: object, properties: { priority: { enum: [low, medium] } } }
      - id: write-tickets-high
        effect: allow
        tools: ["tickets__*"]
        approval: required
        arguments: { type: object, properties: { priority: { const: high } } }
      - { id: write-notes, effect: allow, tools: ["notes__*"], task: required }
agents:
  - { id: triage, match: { subject: "agent:triage-*" }, roles: [reader, writer] }
  - { id: editors, match: { subject: "agent:editor-*" }, roles: [writer] }
  - { id: readers, match: { subject: "agent:reader-*" }, roles: [reader] }
  - id: ops
    match: { subject: "agent:ops-*" }
    roles: [reader]
    grants:
      - { id: ops-files, effect: allow, tools: ["files__*"], rateLimit: { calls: 100, perSeconds: 1 } }
grants:
  - { id: no-tool-49, effect: deny, tools: ["*__tool_49"] }
  - { id: no-crm-11, effect: deny, tools: [crm__tool_11] }
`;

/** Spreads i over [0, m) so agents, tools and tasks vary independently (murmur3-style finaliser). */
const mix = (i, salt, m) => {
  let h = Math.imul(i ^ salt, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) % m;
};

const principals = new Map();
function principalOf(i) {
  const subject = AGENTS[mix(i, 0x5678, AGENTS.length)];
  const taskNo = mix(i, 0x4321, 40);
  const key = `${subject} ${taskNo}`;
  let p = principals.get(key);
  if (!p) {
    // A third of the calls run in a task; half of those tasks narrow to two servers.
    const task =
      taskNo < 13
        ? {
            id: `task-${taskNo}`,
            purpose: 'bench',
            expiresAt: Date.now() + 86_400_000,
            source: 'token',
            ...(taskNo % 2 === 0 && { grants: ['tickets__*', 'notes__*'] }),
          }
        : undefined;
    p = {
      subject,
      issuer: 'urn:mcp-warden:builtin',
      delegation: [],
      scopes: [],
      authMethod: 'jwt',
      ...(task && { task }),
    };
    principals.set(key, p);
  }
  return p;
}

async function fill() {
  const sink = await openAuditSink({
    dataDir,
    settings: {
      durability: 'process-crash',
      captureResults: false,
      maxArgumentBytes: 16384,
      maxResultBytes: 16384,
      checkpointEvery: 1000,
      busyTimeoutMs: 5000,
    },
    logger,
    details: { bench: 'replay' },
  });
  const authorizer = new PolicyAuthorizer({
    current: compilePolicy([{ label: 'in-force.yaml', data: parsePolicyText(IN_FORCE, 'in-force.yaml') }]),
  });
  let next = 0;
  const one = async (i) => {
    const tool = TOOLS[mix(i, 0x1234, TOOLS.length)];
    const ctx = {
      requestId: `req-${i}`,
      ingress: 'http',
      sessionId: `s-${i % 200}`,
      jsonrpcId: i,
      traceId: i.toString(16).padStart(32, '0'),
      principal: principalOf(i),
      clientInfo: { name: 'bench', version: '1' },
      method: 'tools/call',
      server: tool.split('__')[0],
      target: tool,
      downstreamTarget: tool.split('__')[1],
      arguments: {
        title: `ticket ${i}`,
        priority: ['low', 'medium', 'high', 'urgent'][mix(i, 0x7777, 4)],
        body: 'x'.repeat(40),
      },
      startedAt: Date.now(),
    };
    const decision = authorizer.authorize(
      {
        principal: ctx.principal,
        method: ctx.method,
        server: ctx.server,
        target: ctx.target,
        arguments: ctx.arguments,
      },
      ctx.startedAt,
    );
    const intent = await sink.intent(ctx, decision);
    if (!intent.ok) throw new Error(intent.denial.reason);
    if (i % 100 === 0) {
      // The pipeline's list step: every tool decided for this principal; the audit records which were shown.
      const entries = TOOLS.map((target) => ({ server: target.split('__')[0], target }));
      const verdicts = new Uint8Array(
        entries.map((e) =>
          authorizer.authorize(
            { principal: ctx.principal, method: 'tools/list', server: e.server, target: e.target },
            ctx.startedAt,
          ).effect === 'allow'
            ? 1
            : 0,
        ),
      );
      const shown = verdicts.reduce((a, b) => a + b, 0);
      sink.listed(
        {
          requestId: `list-${i}`,
          ingress: 'http',
          sessionId: ctx.sessionId,
          principal: ctx.principal,
          method: 'tools/list',
        },
        { entries, verdicts, shown, hidden: entries.length - shown, refused: false },
      );
    }
    await sink.outcome(
      ctx,
      decision.effect === 'deny'
        ? { status: 'denied', durationMs: 0 }
        : { status: 'ok', durationMs: i % 50, result: { content: [{ type: 'text', text: 'x' }] } },
    );
  };
  const worker = async () => {
    while (next < calls) await one(next++);
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: 512 }, worker));
  await sink.close();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

console.log(
  `policy replay benchmark — node ${process.version}, ${calls.toLocaleString('en')} recorded calls in ${dataDir}\n`,
);
const marker = join(dataDir, 'filled');
if (existsSync(marker) && readFileSync(marker, 'utf8') === `${calls} calls, lists every 100`) {
  console.log('reusing the database filled by an earlier run');
} else {
  rmSync(dataDir, { recursive: true, force: true });
  const seconds = await fill();
  writeFileSync(marker, `${calls} calls, lists every 100`);
  console.log(
    `filled through the audit stage in ${seconds.toFixed(1)} s (${Math.round((2 * calls) / seconds).toLocaleString('en')} entries/s); file ${(statSync(auditFile(dataDir)).size / 1e6).toFixed(0)} MB`,
  );
}

const proposedFile = join(base, 'proposed.yaml');
writeFileSync(proposedFile, PROPOSED);
const proposed = compilePolicy([{ label: 'proposed.yaml', data: parsePolicyText(PROPOSED, 'proposed.yaml') }]);

// On a shared, loaded machine the wall time says more about the other processes than about the replay:
// the CPU time (user + system) of the replaying process is printed beside it.
const db = openAuditDb(auditFile(dataDir), { readonly: true });
db.pragma('mmap_size = 4294967296'); // as the CLI does
const started = process.hrtime.bigint();
const cpuStart = process.cpuUsage();
const report = replayRecorded(proposed, recordedRequests(db, {}));
const cpu = process.cpuUsage(cpuStart);
const inProcess = Number(process.hrtime.bigint() - started) / 1e9;
db.close();
const s = report.summary;
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(
  `\nreplay in-process: ${s.evaluated.toLocaleString('en')} records (${(s.evaluated - s.lists).toLocaleString('en')} calls, ${s.lists.toLocaleString('en')} lists) in ${inProcess.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} s CPU: ${Math.round(s.evaluated / inProcess).toLocaleString('en')} records/s wall, ${Math.round(s.evaluated / cpuSeconds).toLocaleString('en')} per CPU-second`,
);
console.log(
  `  unchanged ${s.unchanged}, newly denied ${s.newlyDenied}, newly allowed ${s.newlyAllowed}, newly needing approval ${s.newlyNeedsApproval}, newly rate-limited ${s.newlyRateLimited}, no longer rate-limited ${s.noLongerRateLimited}, partial ${s.partial}`,
);
console.log(
  `  lists: ${s.listsChanged} of ${s.lists} changed, ${s.newlyHidden} items newly hidden, ${s.newlyVisible} newly shown`,
);
console.log(`  by rule: ${report.groups.map((g) => `${g.rule} ${g.count}`).join(', ')}`);

// GNU time (Debian's "time" package), when present, reports the CLI process's own CPU time.
const timed = existsSync('/usr/bin/time');
const cliArgs = [
  join(ROOT, 'bin/mcp-warden.js'),
  '--data-dir',
  dataDir,
  'policy',
  'replay',
  '--policy',
  proposedFile,
  '--json',
];
const cliStarted = process.hrtime.bigint();
const cli = timed
  ? spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', process.execPath, ...cliArgs], {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    })
  : spawnSync(process.execPath, cliArgs, { encoding: 'utf8', maxBuffer: 1 << 30 });
const cliSeconds = Number(process.hrtime.bigint() - cliStarted) / 1e9;
const cpuLine = timed ? /cpu ([\d.]+) ([\d.]+)\s*$/.exec(cli.stderr) : null;
const cliCpu = cpuLine ? Number(cpuLine[1]) + Number(cpuLine[2]) : undefined;
const cliReport = cli.status === 3 || cli.status === 0 ? JSON.parse(cli.stdout) : undefined;
console.log(
  `replay as the CLI process (mcp-warden policy replay --json): exit ${cli.status} in ${cliSeconds.toFixed(1)} s wall${cliCpu !== undefined ? `, ${cliCpu.toFixed(1)} s CPU` : ' (no /usr/bin/time: CPU not measured)'}${cliReport ? `, ${cliReport.summary.evaluated.toLocaleString('en')} evaluated (${Math.round(cliReport.summary.evaluated / cliSeconds).toLocaleString('en')} records/s wall), ${cliReport.summary.changed.toLocaleString('en')} changed` : `: ${cli.stderr}`}`,
);
const target = 30;
console.log(
  `\ntarget: ${calls.toLocaleString('en')} calls replayed in ≤ ${target} s — wall ${cliSeconds <= target ? 'met' : 'NOT met'}${cliCpu !== undefined ? `, CPU ${cliCpu <= target ? 'met' : 'NOT met'}` : ''}; in-process CPU ${cpuSeconds.toFixed(1)} s ${cpuSeconds <= target ? 'met' : 'NOT met'}`,
);
console.log(
  `load average when done: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${cpus().length} CPUs (wall figures on a loaded machine measure the other processes)`,
);

if (!values.keep && !values.dir) rmSync(base, { recursive: true, force: true });
