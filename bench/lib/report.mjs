// The printed tables and the issue's targets, judged from the medians of one run.

const fmt = (v, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);

function baselineFor(report, name) {
  const t = report.targets[name];
  return t.transport === 'stdio' ? 'direct stdio' : 'direct HTTP';
}

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    `| ${cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join(' | ')} |`;
  return [
    line(headers),
    `|${widths.map((w, i) => (i === 0 ? ':' : '') + '-'.repeat(w + 1) + (i === 0 ? '' : ':')).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

export function printTables(report) {
  const { medians } = report;
  const rows = Object.keys(medians).map((name) => {
    const m = medians[name];
    const base = medians[baselineFor(report, name)];
    return [
      name,
      fmt(m.latencyMs.p50),
      fmt(m.latencyMs.p95),
      fmt(m.latencyMs.p99),
      `×${fmt(ratio(m.latencyMs.p50, base?.latencyMs.p50))}`,
      ...Object.keys(m.throughput).map((l) => fmt(m.throughput[l], 0)),
      `×${fmt(ratio(m.throughput[4], base?.throughput[4]))}`,
    ];
  });
  const levels = Object.keys(Object.values(medians)[0]?.throughput ?? {});
  console.log(
    `\nmcp-warden bench (${report.mode}), ${report.date}; ${report.machine.cpus} × ${report.machine.cpuModel}, Node ${report.machine.node}`,
  );
  console.log(
    `medians of ${report.settings.rounds} round(s); latency in ms (echo, 100 B, sequential); throughput in calls/s; ratios to the direct connection of the same transport\n`,
  );
  console.log(
    table(['target', 'p50', 'p95', 'p99', 'p50 ratio', ...levels.map((l) => `calls/s @${l}`), '@4 ratio'], rows),
  );
  const rows2 = Object.keys(medians).map((name) => {
    const m = medians[name];
    return [
      name,
      fmt(m.listP50Ms),
      fmt(m.setupP50Ms.connect),
      fmt(m.setupP50Ms.toFirstResult),
      ...Object.values(m.sizesP50Ms).map((v) => fmt(v)),
    ];
  });
  console.log(
    `\n${table(['target', 'tools/list p50', 'setup p50', 'to 1st result p50', ...Object.keys(Object.values(medians)[0]?.sizesP50Ms ?? {}).map((k) => `${k} p50`)], rows2)}`,
  );
  const { openSessions, churn } = report.sessions;
  if (openSessions) {
    console.log(
      `\n${openSessions.target}: ${openSessions.opened} open HTTP sessions (${openSessions.live} answering), gateway RSS ${fmt(openSessions.rssBeforeMB, 0)} MB → ${fmt(openSessions.rssOpenMB, 0)} MB (${fmt(openSessions.rssPerSessionKB, 0)} KB/session), ${fmt(openSessions.rssAfterCloseMB, 0)} MB after closing; children ${openSessions.childrenBefore} → ${openSessions.childrenOpen} → ${openSessions.childrenAfterClose}`,
    );
  }
  if (churn)
    console.log(
      `${churn.target}: ${churn.closed} sessions opened, called and closed; child processes ${churn.childrenBefore} before, ${churn.childrenPeak} at peak, ${churn.childrenAfter} after`,
    );
  console.log('\ntargets (issue 21):');
  for (const c of report.checks) console.log(`  ${c.met ? 'met ' : 'MISS'}  ${c.name}: ${c.detail}`);
}

export function checkTargets(report) {
  const m = report.medians;
  const checks = [];
  const hh = m['warden HTTP→HTTP'];
  const dh = m['direct HTTP'];
  const ss = m['warden stdio→stdio'];
  const ds = m['direct stdio'];
  if (hh && dh) {
    // Issue 21: below both thin proxies measured in the same run, as well as within the ratio to direct.
    const peers = Object.entries(m).filter(([name]) => report.targets[name].peer);
    const peerNote = (of) =>
      peers.length === 0 ? '; no peer measured' : `; ${peers.map(([name, v]) => `${name} ${of(v)}`).join(', ')}`;
    const r = ratio(hh.latencyMs.p50, dh.latencyMs.p50);
    checks.push({
      name: 'HTTP→HTTP p50 ≤ 1.5× direct HTTP, and below every peer in the run',
      met: r <= 1.5 && peers.every(([, v]) => hh.latencyMs.p50 < v.latencyMs.p50),
      value: r,
      detail: `×${fmt(r)} (${fmt(hh.latencyMs.p50)} vs ${fmt(dh.latencyMs.p50)} ms)${peerNote((v) => `${fmt(v.latencyMs.p50)} ms`)}`,
    });
    const t = ratio(hh.throughput[4], dh.throughput[4]);
    checks.push({
      name: 'HTTP→HTTP throughput @4 ≥ 0.8× direct HTTP, and above every peer in the run',
      met: t >= 0.8 && peers.every(([, v]) => hh.throughput[4] > v.throughput[4]),
      value: t,
      detail: `×${fmt(t)} (${fmt(hh.throughput[4], 0)} vs ${fmt(dh.throughput[4], 0)} calls/s)${peerNote((v) => `${fmt(v.throughput[4], 0)} calls/s`)}`,
    });
  }
  if (ss && ds) {
    const d = ss.latencyMs.p50 - ds.latencyMs.p50;
    checks.push({
      name: 'stdio→stdio p50 ≤ direct stdio + 0.5 ms',
      met: d <= 0.5,
      value: d,
      detail: `+${fmt(d, 3)} ms (${fmt(ss.latencyMs.p50, 3)} vs ${fmt(ds.latencyMs.p50, 3)} ms)`,
    });
  }
  const lists = Object.entries(m).filter(([name]) => report.targets[name].governed);
  for (const [name, v] of lists)
    checks.push({
      name: `${name}: tools/list of 1,000 tools, filtered, p50 ≤ 2 ms`,
      met: v.listP50Ms <= 2,
      value: v.listP50Ms,
      detail: Number.isFinite(v.listBytesInP50Ms)
        ? `${fmt(v.listP50Ms)} ms; its last byte in at ${fmt(v.listBytesInP50Ms)} ms, before the client's parse`
        : `${fmt(v.listP50Ms)} ms`,
    });
  const { openSessions, churn } = report.sessions;
  if (openSessions)
    checks.push({
      name: `${openSessions.opened} open HTTP sessions: RSS ≤ 300 MB`,
      met: openSessions.rssOpenMB <= 300,
      value: openSessions.rssOpenMB,
      detail: `${fmt(openSessions.rssOpenMB, 0)} MB`,
    });
  if (churn)
    checks.push({
      name: `no growth in child processes after ${churn.closed} session opens and closes`,
      met: churn.growth <= 0,
      value: churn.growth,
      detail: `${churn.childrenBefore} → ${churn.childrenAfter}`,
    });
  for (const [name, v] of Object.entries(m)) {
    const { peer, floor } = report.targets[name];
    if (!peer && !floor) continue;
    const base = m[baselineFor(report, name)];
    checks.push({
      name: `for comparison, ${name} (${floor ? 'bench/servers/relay.mjs: parses and relays, ' : ''}no governance)`,
      met: true,
      info: true,
      detail:
        baselineFor(report, name) === 'direct stdio'
          ? `p50 +${fmt(v.latencyMs.p50 - base.latencyMs.p50, 3)} ms, throughput @4 ×${fmt(ratio(v.throughput[4], base.throughput[4]))}`
          : `p50 ×${fmt(ratio(v.latencyMs.p50, base.latencyMs.p50))}, throughput @4 ×${fmt(ratio(v.throughput[4], base.throughput[4]))}`,
    });
  }
  return checks;
}
