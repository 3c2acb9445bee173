// The metrics' label sets are bounded by construction: whatever names agents call, and however many
// tools servers register, the number of series stays under a fixed ceiling.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { localPrincipal } from '../../src/model/principal.js';
import { PROTOCOL_ERAS } from '../../src/model/protocol-era.js';
import { GatewayMetrics } from '../../src/observe/metrics.js';
import type { CallContext, CallMethod } from '../../src/pipeline/context.js';
import { STAGES } from '../../src/pipeline/observer.js';
import type { CallStatus, Decision } from '../../src/pipeline/stages.js';

const STATUSES: CallStatus[] = ['ok', 'tool_error', 'denied', 'rejected', 'timeout', 'cancelled', 'downstream_failed'];
const DECISIONS: Decision[] = [
  { effect: 'allow', rule: 'r', reason: '' },
  { effect: 'deny', rule: 'r', reason: '' },
  { effect: 'allow', rule: 'r', reason: '', approvalRequired: true },
];
const METHODS: CallMethod[] = ['tools/call', 'prompts/get', 'resources/read', 'completion/complete'];

function context(method: CallMethod, server: string, target: string, protocolVersion?: string): CallContext {
  return {
    requestId: 'r',
    ingress: 'http',
    jsonrpcId: 1,
    ...(protocolVersion !== undefined && { protocolVersion }),
    traceId: '0'.repeat(32),
    principal: localPrincipal(`agent-${target}`),
    method,
    server,
    target,
    downstreamTarget: target,
    startedAt: 0,
  };
}

async function seriesOf(metrics: GatewayMetrics, name: string): Promise<number> {
  const family = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return family?.values.length ?? 0;
}

describe('label cardinality', () => {
  it('stays bounded with 10,000 random tool names, random resource URIs, random subjects and random protocol versions', async () => {
    const maxToolLabels = 50;
    const metrics = new GatewayMetrics({ maxToolLabels, processMetrics: false });
    const servers = ['', 'alpha', 'beta'];
    for (let i = 0; i < 10_000; i += 1) {
      const name = `${randomBytes(6).toString('hex')}__${randomBytes(6).toString('hex')}`;
      const method = METHODS[i % METHODS.length]!;
      const target = method === 'resources/read' ? `file:///${randomBytes(8).toString('hex')}` : name;
      const version = [undefined, '2025-11-25', '2026-07-28', randomBytes(5).toString('hex')][i % 4];
      const observed = metrics.begin(context(method, servers[i % servers.length]!, target, version), 0);
      for (const stage of STAGES) observed.stage(stage, 1);
      observed.end(2, DECISIONS[i % DECISIONS.length]!, STATUSES[i % STATUSES.length]!);
    }
    // ingress(1) × era × method(4) × server(3) × tool(≤ maxToolLabels + '' + '_other') × decision(3) × outcome(7), at most.
    const ceiling =
      1 *
      PROTOCOL_ERAS.length *
      METHODS.length *
      servers.length *
      (maxToolLabels + 2) *
      DECISIONS.length *
      STATUSES.length;
    const calls = await seriesOf(metrics, 'mcp_warden_calls_total');
    expect(calls).toBeLessThanOrEqual(ceiling);
    const tools = new Set(
      (await metrics.registry.getMetricsAsJSON())
        .find((m) => m.name === 'mcp_warden_calls_total')!
        .values.map((v) => v.labels.tool),
    );
    expect(tools.size).toBeLessThanOrEqual(maxToolLabels + 2);
    expect(tools.has('_other')).toBe(true);
    const eras = new Set(
      (await metrics.registry.getMetricsAsJSON())
        .find((m) => m.name === 'mcp_warden_calls_total')!
        .values.map((v) => v.labels.era),
    );
    expect([...eras].sort()).toEqual([...PROTOCOL_ERAS].sort());
    // No URI, and no subject, ever becomes a label value.
    const text = (await metrics.render()).body;
    expect(text).not.toContain('file:///');
    expect(text).not.toContain('agent-');
    // Families without a tool label do not grow with names at all.
    expect(await seriesOf(metrics, 'mcp_warden_stage_duration_seconds')).toBe(STAGES.length * 20); // 17 buckets + +Inf, sum, count
    expect(await seriesOf(metrics, 'mcp_warden_downstream_duration_seconds')).toBe(servers.length * 18);
  });

  it('keeps every registered name below the limit as its own label', async () => {
    const metrics = new GatewayMetrics({ maxToolLabels: 3, processMetrics: false });
    for (const name of ['a__one', 'a__two', 'a__three', 'a__four', 'a__one']) {
      const observed = metrics.begin(context('tools/call', 'a', name), 0);
      observed.end(1, DECISIONS[0]!, 'ok');
    }
    const values = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'mcp_warden_calls_total')!.values;
    expect(Object.fromEntries(values.map((v) => [v.labels.tool, v.value]))).toEqual({
      a__one: 2,
      a__two: 1,
      a__three: 1,
      _other: 1,
    });
  });
});
