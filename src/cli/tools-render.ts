// How `mcp-warden tools` prints pins: the table of `tools list`, times, short hashes, the JSON summary.
import type { PinRow, PinStatus } from '../integrity/types.js';
import { cleanLabel } from '../model/sanitize.js';

export const STATUSES: readonly PinStatus[] = ['pinned', 'quarantined', 'pending', 'rejected'];

export function summary(row: PinRow) {
  const { pinnedDefinition: _p, currentDefinition: _c, ...rest } = row;
  return rest;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function short(hash: string | undefined): string {
  return hash === undefined ? '-' : hash.replace(/^sha256:/, '').slice(0, 12);
}

export function table(rows: readonly PinRow[]): string {
  if (rows.length === 0) return 'no tool definitions match\n';
  const header = ['STATUS', 'KIND', 'NAME', 'SERVER', 'PINNED', 'CURRENT', 'FLAGS', 'DECIDED'];
  const cells = rows.map((r) => [
    r.status,
    r.kind,
    r.exposed,
    r.server,
    short(r.pinnedHash),
    r.pinnedHash === r.currentHash ? '=' : short(r.currentHash),
    r.flags.length > 0 ? r.flags.join(',') : '-',
    r.decidedBy
      ? `${cleanLabel(r.decidedBy)} ${iso(r.decidedAt ?? r.updatedAt)}`
      : r.status === 'pinned'
        ? 'first use'
        : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const lines = [header, ...cells].map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '),
  );
  return `${lines.join('\n')}\n${visibleCount(rows)}\n`;
}

function visibleCount(rows: readonly PinRow[]): string {
  const counts = STATUSES.map((s) => [s, rows.filter((r) => r.status === s).length] as const).filter(([, n]) => n > 0);
  return counts.map(([s, n]) => `${n} ${s}`).join(', ');
}
