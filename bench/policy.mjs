// Policy evaluation benchmark (not part of npm test). Run after a build:
//   npx tsc -p tsconfig.build.json && node bench/policy.mjs
// Measures the pure evaluator for one call against a 100-rule policy (target: p50 ≤ 20 µs) and the
// authorize step over a 1,000-tool list as the pipeline's filterList runs it (target: p50 ≤ 2 ms).
import { performance } from 'node:perf_hooks';
import { compilePolicy } from '../dist/src/policy/compile.js';
import { evaluate } from '../dist/src/policy/evaluate.js';
import { PolicyAuthorizer } from '../dist/src/policy/authorizer.js';
import { PolicyFileSchema } from '../dist/src/policy/schema.js';
import { PolicyHolder } from '../dist/src/policy/watch.js';

const NOW = Date.now();
const SERVERS = Array.from({ length: 20 }, (_, i) => `srv${i}`);

/** 100 rules: 10 agent entries with 7 grants each (exact names, prefix globs, argument schemas, task-only) and 30 global ones. */
function hundredRules() {
  const agents = Array.from({ length: 10 }, (_, a) => ({
    id: `agent-${a}`,
    match: a === 9 ? { subject: 'agent:bench*', issuer: 'urn:mcp-warden:builtin' } : { subject: `team-${a}:*` },
    grants: [
      { effect: 'allow', tools: [`${SERVERS[a]}__read_*`, `${SERVERS[a + 10]}__list_*`] },
      { effect: 'allow', tools: [`${SERVERS[a]}__tool_1`, `${SERVERS[a]}__tool_2`, `${SERVERS[a]}__tool_3`] },
      { effect: 'allow', tools: [`${SERVERS[a]}__write_*`], task: 'required' },
      { effect: 'allow', tools: [`${SERVERS[a]}__search`], rateLimit: { calls: 1000000, perSeconds: 1 } },
      {
        effect: 'allow',
        tools: [`${SERVERS[(a + 1) % 20]}__tool_*`],
        arguments: { type: 'object', properties: { id: { type: 'integer', maximum: 1000 } } },
      },
      { effect: 'deny', tools: [`${SERVERS[a]}__admin_*`] },
      { effect: 'allow', prompts: [`${SERVERS[a]}__*`], resources: [`res://${SERVERS[a]}/*`] },
    ],
  }));
  const grants = Array.from({ length: 30 }, (_, g) =>
    g % 3 === 0
      ? { effect: 'deny', tools: [`*__danger_${g}*`] }
      : g % 3 === 1
        ? { effect: 'allow', tools: [`${SERVERS[g % 20]}__common_${g}`] }
        : {
            effect: 'deny',
            tools: [`${SERVERS[g % 20]}__tool_*`],
            arguments: { type: 'object', required: ['force'], properties: { force: { const: true } } },
          },
  );
  const data = PolicyFileSchema.parse({ version: 1, agents, grants });
  return compilePolicy([{ label: 'bench.yaml', data }]);
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function measure(label, iterations, fn, unit) {
  for (let i = 0; i < Math.min(2_000, iterations); i += 1) fn(i); // warm up
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i += 1) {
    const start = performance.now();
    fn(i);
    samples[i] = performance.now() - start;
  }
  const sorted = Array.from(samples).sort((a, b) => a - b);
  const scale = unit === 'µs' ? 1_000 : 1;
  const f = (v) => (v * scale).toFixed(unit === 'µs' ? 2 : 3);
  console.log(
    `${label.padEnd(58)} p50 ${f(percentile(sorted, 50))} ${unit}   p90 ${f(percentile(sorted, 90))} ${unit}   p99 ${f(percentile(sorted, 99))} ${unit}`,
  );
  return percentile(sorted, 50) * scale;
}

const policy = hundredRules();
const principal = {
  subject: 'agent:bench-1',
  issuer: 'urn:mcp-warden:builtin',
  delegation: [],
  scopes: [],
  authMethod: 'jwt',
  task: { id: 't', grants: ['srv9__*', 'srv10__*', 'srv19__*', 'srv0__*'] },
};
const request = {
  principal,
  method: 'tools/call',
  server: 'srv10',
  target: 'srv10__tool_7',
  arguments: { id: 12, note: 'x' },
};
console.log(
  `policy ${policy.version}: ${policy.ruleCount} rules, ${policy.agents.length} agent entries; node ${process.version}`,
);
const check = evaluate(policy, request, NOW);
if (check.effect !== 'allow') throw new Error(`benchmark call should be allowed, got ${JSON.stringify(check)}`);

const callP50 = measure(
  'evaluate one call (100 rules, schema check, task)',
  200_000,
  () => evaluate(policy, request, NOW),
  'µs',
);
measure(
  'evaluate one call, a new principal object each time',
  100_000,
  () => evaluate(policy, { ...request, principal: { ...principal } }, NOW),
  'µs',
);

const authorizer = new PolicyAuthorizer(new PolicyHolder(policy));
const tools = Array.from({ length: 1_000 }, (_, i) => {
  const server = SERVERS[i % 20];
  const kinds = [
    'read_x',
    'list_y',
    'tool_1',
    'tool_9',
    'write_z',
    'search',
    'admin_a',
    'danger_3',
    'common_4',
    'other',
  ];
  return { server, target: `${server}__${kinds[Math.floor(i / 20) % 10]}_${i}` };
});
const listP50 = measure(
  'filter a 1,000-tool list (authorize per entry)',
  2_000,
  () => {
    const shown = [];
    for (const entry of tools) {
      if (
        authorizer.authorize({ principal, method: 'tools/list', server: entry.server, target: entry.target }, NOW)
          .effect === 'allow'
      )
        shown.push(entry);
    }
    return shown;
  },
  'ms',
);

console.log(
  `targets: call p50 ≤ 20 µs: ${callP50 <= 20 ? 'met' : 'MISSED'}; list p50 ≤ 2 ms: ${listP50 <= 2 ? 'met' : 'MISSED'}`,
);
