// The sections. Every call's result is checked in full (payload, size, credential marker); a wrong
// answer is counted, never timed, and any wrong answer fails the run.
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { payloadFor } from './payload.mjs';

// tools/list of 1,000 tools is read without the SDK's full ListToolsResult validation, which costs the
// client ~10 ms and would swamp what the servers do: over HTTP as a plain POST on the session (fetch +
// JSON.parse), over stdio through the SDK client with a light schema. Every name is still checked below.
const ListSchema = z
  .object({
    tools: z.array(z.object({ name: z.string(), inputSchema: z.unknown() }).passthrough()),
    nextCursor: z.string().optional(),
  })
  .passthrough();

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function summarise(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

export function median(values) {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
}

let nonce = 0;

/** One echo call, checked: the exact payload back, and the credential marker this target must show. */
export async function echoOnce(target, client, size, errors) {
  const text = `n${process.pid}-${++nonce}`;
  let result;
  try {
    result = await client.callTool({ name: target.tool, arguments: { text, size } });
  } catch (error) {
    errors.push(`${target.name}: echo ${size} B threw: ${error.message}`);
    return false;
  }
  const [payload, marker] = result.content ?? [];
  const problem =
    result.isError === true
      ? `tool error: ${JSON.stringify(result.content).slice(0, 200)}`
      : payload?.type !== 'text' || payload.text.length !== size
        ? `payload of ${payload?.text?.length} chars, expected ${size}`
        : payload.text !== payloadFor(text, size)
          ? 'payload differs from what was sent'
          : marker?.text !== `credential:${target.credential}`
            ? `credential marker ${JSON.stringify(marker?.text)}, expected credential:${target.credential}`
            : undefined;
  if (problem) errors.push(`${target.name}: ${problem}`);
  return problem === undefined;
}

/** Sequential calls on one session: latency percentiles in ms. */
export async function latency(target, session, { calls, size, warmup }, errors) {
  for (let i = 0; i < warmup; i++) await echoOnce(target, session.client, size, errors);
  const samples = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const ok = await echoOnce(target, session.client, size, errors);
    const t1 = performance.now();
    if (ok) samples.push(t1 - t0);
  }
  return summarise(samples);
}

/** `sessions` sessions each looping checked calls for `durationMs`: completed calls per second. */
export async function throughput(target, sessions, { durationMs, size, warmup }, errors) {
  await Promise.all(
    sessions.map(async (s) => {
      for (let i = 0; i < warmup; i++) await echoOnce(target, s.client, size, errors);
    }),
  );
  let done = 0;
  const t0 = performance.now();
  const until = t0 + durationMs;
  await Promise.all(
    sessions.map(async (s) => {
      while (performance.now() < until) if (await echoOnce(target, s.client, size, errors)) done++;
    }),
  );
  const elapsed = performance.now() - t0;
  return { sessions: sessions.length, calls: done, callsPerSecond: (done * 1000) / elapsed };
}

/** tools/list: latency, and the listed count must be exactly what this target should show. */
export async function listing(target, session, { calls, warmup }, errors) {
  const samples = [];
  // HTTP sessions read lists raw: the time until the answer's last byte is in, before the client splits
  // and parses 225 KB of JSON (about 2 ms of the total on the 2-core VM), is what the server spent
  const bytesIn = [];
  for (let i = 0; i < warmup + calls; i++) {
    const t0 = performance.now();
    let tools;
    try {
      ({ tools } = session.raw
        ? await session.raw('tools/list')
        : await session.client.request({ method: 'tools/list', params: {} }, ListSchema));
    } catch (error) {
      errors.push(`${target.name}: tools/list threw: ${error.message}`);
      continue;
    }
    const t1 = performance.now();
    const names = new Set(tools.map((t) => t.name));
    const problem =
      tools.length !== target.listed
        ? `tools/list returned ${tools.length} tools, expected ${target.listed}`
        : !names.has(target.tool)
          ? `tools/list lacks ${target.tool}`
          : target.governed && tools.some((t) => /__tool_\d*7$/.test(t.name))
            ? 'tools/list shows a tool the policy denies'
            : target.governed &&
                JSON.stringify(tools.find((t) => t.name === target.tool)?.inputSchema ?? {}).includes('credential')
              ? 'tools/list shows the hidden credential argument'
              : undefined;
    if (problem) errors.push(`${target.name}: ${problem}`);
    else if (i >= warmup) {
      samples.push(t1 - t0);
      if (session.raw) bytesIn.push(session.receivedAt - t0);
    }
  }
  return { ...summarise(samples), bytesInP50: bytesIn.length > 0 ? summarise(bytesIn).p50 : NaN };
}

/** Session setup: connect (initialize + initialized) to the first checked call, then close (not timed). */
export async function setup(target, { sessions }, errors) {
  const connectMs = [];
  const firstCallMs = [];
  for (let i = 0; i < sessions; i++) {
    const t0 = performance.now();
    let session;
    try {
      session = await target.connect();
    } catch (error) {
      errors.push(`${target.name}: connect threw: ${error.message}`);
      continue;
    }
    const t1 = performance.now();
    const ok = await echoOnce(target, session.client, 64, errors);
    const t2 = performance.now();
    await session.close();
    if (ok) {
      connectMs.push(t1 - t0);
      firstCallMs.push(t2 - t0);
    }
  }
  return { connect: summarise(connectMs), toFirstResult: summarise(firstCallMs) };
}
