import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { escapeControls } from '../audit/export.js';
import type { ReplayFilter } from '../audit/replay-read.js';
import { recordedRequests } from '../audit/replay-source.js';
import { auditFile, openAuditDb } from '../audit/store.js';
import { loadConfig } from '../config/load.js';
import { WardenError } from '../errors.js';
import { compilePolicy } from '../policy/compile.js';
import { readPolicyFile } from '../policy/load.js';
import { replayRecorded } from '../policy/replay.js';
import { CHANGE_LABELS, type AuditReplayReport, type ReplayChange } from '../policy/replay-report.js';
import { labelFor } from '../policy/tests.js';
import { parseTime } from './audit.js';
import { time } from './audit-render.js';
import { EXIT, UsageError, type CommandContext } from './common.js';

export interface ReplayFlags {
  policy?: string[];
  since?: string;
  until?: string;
  agent?: string;
  server?: string;
  tool?: string;
  json?: boolean;
}

/**
 * `mcp-warden policy replay --policy NEW.yaml`: every recorded request in range decided again by the
 * proposed policy, offline. Exit 0 when no decision changes, 3 when some do (a CI gate), 2 on a bad
 * policy (the policy is compiled before the audit log is opened).
 */
export function replayCommand(ctx: CommandContext, flags: ReplayFlags): number {
  if (!flags.policy || flags.policy.length === 0)
    throw new UsageError('--policy FILE is required (the proposed policy; repeat for several files)');
  const files = flags.policy.map((file) => ({ path: resolve(file), label: labelFor(resolve(file)) }));
  const policy = compilePolicy(files.map((file) => readPolicyFile(file)));
  const filter: ReplayFilter = {};
  if (flags.since !== undefined) filter.since = parseTime(flags.since, '--since');
  if (flags.until !== undefined) filter.until = parseTime(flags.until, '--until');
  if (flags.agent !== undefined) filter.agent = flags.agent;
  if (flags.server !== undefined) filter.server = flags.server;
  if (flags.tool !== undefined) filter.tool = flags.tool;

  const dataDir = ctx.dataDir !== undefined ? resolve(ctx.dataDir) : loadConfig(ctx.configPath, {}).dataDir;
  const file = auditFile(dataDir);
  if (!existsSync(file))
    throw new WardenError(
      'ERR_AUDIT_UNAVAILABLE',
      `no audit database at ${file} (has a gateway run with this data folder?)`,
    );
  const db = openAuditDb(file, { readonly: true });
  // One pass over the whole log: read it through a memory map instead of copying every page.
  db.pragma('mmap_size = 4294967296');
  let report: AuditReplayReport;
  try {
    report = replayRecorded(policy, recordedRequests(db, filter));
  } finally {
    db.close();
  }
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({ policy: { version: policy.version, files: policy.files }, filter, ...report })}\n`,
    );
  } else {
    process.stdout.write(formatReplay(report, policy.files, filter));
  }
  return report.summary.changed > 0 ? EXIT.changed : EXIT.ok;
}

/** The report for a terminal: the summary, then each changed decision under the rule that now decides it. */
export function formatReplay(report: AuditReplayReport, files: readonly string[], filter: ReplayFilter): string {
  const s = report.summary;
  const range = [
    filter.since !== undefined ? `since ${time(filter.since)}` : '',
    filter.until !== undefined ? `until ${time(filter.until)}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const scope = [
    filter.agent && `agent ${filter.agent}`,
    filter.server && `server ${filter.server}`,
    filter.tool && `tool ${filter.tool}`,
  ]
    .filter(Boolean)
    .join(', ');
  const lines = [
    `policy replay: proposed policy ${report.policyVersion} (${files.join(', ')}) against the recorded requests${range ? ` ${range}` : ''}${scope ? ` (${escapeControls(scope)})` : ''}`,
    '',
    `  evaluated                 ${s.evaluated} (${s.evaluated - s.lists} calls, ${s.lists} lists)`,
    `  unchanged                 ${s.unchanged}`,
    `  newly denied              ${s.newlyDenied}`,
    `  newly allowed             ${s.newlyAllowed}`,
    `  newly needing approval    ${s.newlyNeedsApproval}`,
    `  no longer needing approval ${s.noLongerNeedsApproval}`,
    `  rate limits               ${s.newlyRateLimited} newly limited, ${s.noLongerRateLimited} no longer limited`,
    `  list visibility           ${s.newlyHidden} item${s.newlyHidden === 1 ? '' : 's'} newly hidden, ${s.newlyVisible} newly shown (in ${s.listsChanged} of ${s.lists} lists)`,
    `  partial                   ${s.partial} (a constraint depended on what the record does not hold in full)`,
  ];
  if (report.notReplayed > 0)
    lines.push(
      `  not replayed              ${report.notReplayed} (decided before any policy: expired credential or unknown name)`,
    );
  const lists = report.listsNotReplayed;
  if (lists.pages > 0)
    lines.push(`  list pages not replayed   ${lists.pages} (pages after the first: replayed with their first page)`);
  if (lists.noCatalog > 0)
    lines.push(`  lists not replayed        ${lists.noCatalog} (their catalog is no longer in the log: pruned)`);
  if (s.changed === 0) {
    lines.push('', 'no decision changes');
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    '',
    `${s.changed} changed decision${s.changed === 1 ? '' : 's'}, by the rule that now decides (details: mcp-warden audit show ID):`,
  );
  for (const group of report.groups) {
    lines.push('', `${escapeControls(group.rule)} (${group.count})`);
    for (const change of group.changes) lines.push(...changeLines(change));
    if (group.count > group.changes.length)
      lines.push(`  … and ${group.count - group.changes.length} more (--json lists the first ${group.changes.length})`);
  }
  return `${lines.join('\n')}\n`;
}

function changeLines(change: ReplayChange): string[] {
  const e = escapeControls;
  const partial = change.partial ? `  [partial: ${change.partial.join(', ')}]` : '';
  return [
    `  ${change.id}  ${time(change.startedAt)}  ${e(change.subject)}${change.taskId ? ` (task ${e(change.taskId)})` : ''}  ${change.method} ${e(change.target)}: ${CHANGE_LABELS[change.kind]}${partial}`,
    change.old.rule === undefined
      ? `      was ${e(change.old.reason)}`
      : `      was ${change.old.class} by ${e(change.old.rule)}: ${e(change.old.reason)}`,
    `      now ${change.new.class} by ${e(change.new.rule)}: ${e(change.new.reason)}`,
  ];
}
