// The bench's verdicts against issue 21's targets, judged from one run's medians: a ratio to the direct
// connection is not enough for HTTP→HTTP, it must also beat every thin proxy measured in the same run.
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the bench, without types
import { checkTargets } from '../../bench/lib/report.mjs';

interface Check {
  name: string;
  met: boolean;
  detail: string;
}

function median(p50: number, at4: number) {
  return { latencyMs: { p50 }, throughput: { 4: at4 }, listP50Ms: 1.5 };
}

function report(warden: { p50: number; at4: number }, peers: Record<string, { p50: number; at4: number }>) {
  const medians: Record<string, ReturnType<typeof median>> = {
    'direct HTTP': median(2, 1000),
    'direct stdio': median(0.4, 5000),
    'warden HTTP→HTTP': median(warden.p50, warden.at4),
    'warden stdio→stdio': median(0.8, 900),
  };
  const targets: Record<string, { transport: string; governed?: boolean; peer?: boolean }> = {
    'direct HTTP': { transport: 'http' },
    'direct stdio': { transport: 'stdio' },
    'warden HTTP→HTTP': { transport: 'http', governed: true },
    'warden stdio→stdio': { transport: 'stdio', governed: true },
  };
  for (const [name, v] of Object.entries(peers)) {
    medians[name] = median(v.p50, v.at4);
    targets[name] = { transport: 'http', peer: true };
  }
  return { medians, targets, sessions: {} };
}

const verdict = (checks: Check[], prefix: string) => checks.find((c) => c.name.startsWith(prefix))!;

describe('bench targets (issue 21)', () => {
  it('HTTP→HTTP within ×1.5 and ×0.8 of direct, and ahead of both peers: met', () => {
    const checks = checkTargets(
      report({ p50: 2.9, at4: 850 }, { 'mcp-proxy': { p50: 3.2, at4: 800 }, supergateway: { p50: 3.0, at4: 600 } }),
    ) as Check[];
    expect(verdict(checks, 'HTTP→HTTP p50').met).toBe(true);
    expect(verdict(checks, 'HTTP→HTTP throughput').met).toBe(true);
    expect(verdict(checks, 'HTTP→HTTP p50').detail).toContain('mcp-proxy 3.20 ms');
  });

  it('within the ratios but slower than one peer: missed, and the peer is named', () => {
    const checks = checkTargets(
      report({ p50: 2.9, at4: 850 }, { 'mcp-proxy': { p50: 3.2, at4: 900 }, supergateway: { p50: 2.5, at4: 600 } }),
    ) as Check[];
    expect(verdict(checks, 'HTTP→HTTP p50').met).toBe(false);
    expect(verdict(checks, 'HTTP→HTTP p50').detail).toContain('supergateway 2.50 ms');
    expect(verdict(checks, 'HTTP→HTTP throughput').met).toBe(false);
  });

  it('past ×1.5 or under ×0.8 of direct: missed even with no peer measured', () => {
    const checks = checkTargets(report({ p50: 3.1, at4: 790 }, {})) as Check[];
    expect(verdict(checks, 'HTTP→HTTP p50').met).toBe(false);
    expect(verdict(checks, 'HTTP→HTTP p50').detail).toContain('no peer measured');
    expect(verdict(checks, 'HTTP→HTTP throughput').met).toBe(false);
  });

  it('stdio→stdio is judged against direct + 0.5 ms', () => {
    expect(verdict(checkTargets(report({ p50: 3, at4: 800 }, {})) as Check[], 'stdio→stdio').met).toBe(true);
    const slow = report({ p50: 3, at4: 800 }, {});
    slow.medians['warden stdio→stdio']!.latencyMs.p50 = 0.95;
    expect(verdict(checkTargets(slow) as Check[], 'stdio→stdio').met).toBe(false);
  });
});
