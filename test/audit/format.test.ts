// Pure parts of the audit store: canonical JSON, ids, the entry hash, argument scrubbing and capping,
// and the escaping that keeps recorded values from injecting into terminals, logs and spreadsheets.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, digestOf, newRecordId, RECORD_ID_PATTERN } from '../../src/model/canonical.js';
import { canonicalRow, entryHash, GENESIS_HASH, type EntryInput } from '../../src/audit/chain.js';
import { csvCell, csvLine, escapeControls, safeJson } from '../../src/audit/export.js';
import { capValue, REDACTED, scrubValue } from '../../src/model/stored-value.js';
import { parseTime } from '../../src/cli/audit.js';

describe('canonical JSON and ids', () => {
  it.each([
    [{ b: 1, a: 2 }, '{"a":2,"b":1}'],
    [{ z: { y: [3, { d: 1, c: 2 }] }, a: null }, '{"a":null,"z":{"y":[3,{"c":2,"d":1}]}}'],
    [{ a: undefined, b: 'x' }, '{"b":"x"}'],
    [[{ b: 1, a: 1 }], '[{"a":1,"b":1}]'],
  ])('%j → %s', (value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it('digests the canonical form, so key order does not matter', () => {
    expect(digestOf({ a: 1, b: [1, 2] }).digest).toBe(digestOf({ b: [1, 2], a: 1 }).digest);
    expect(digestOf({ a: 1 }).digest).toBe(`sha256:${createHash('sha256').update('{"a":1}').digest('hex')}`);
  });

  it('makes sortable ids that increase within one millisecond', () => {
    const ids = Array.from({ length: 1000 }, () => newRecordId(1_800_000_000_000));
    for (const id of ids) expect(id).toMatch(RECORD_ID_PATTERN);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(newRecordId(1_800_000_000_001) > ids.at(-1)!).toBe(true);
  });
});

describe('entry hash', () => {
  const entry: EntryInput = {
    id: '01J0000000000000000000000A',
    kind: 'intent',
    ts: 1,
    startedAt: 1,
    instance: 'i',
    type: 'tools/call',
    subject: 'agent:a',
    taskId: null,
    server: 'notes',
    target: 'notes__read',
    decision: 'allow',
    outcome: null,
    body: '{"v":1,"text":"line\\nbreak"}',
  };

  it('is SHA-256 over the previous hash bytes and the canonical row', () => {
    const expected = createHash('sha256')
      .update(Buffer.from(GENESIS_HASH, 'hex'))
      .update(canonicalRow(entry))
      .digest('hex');
    expect(entryHash(GENESIS_HASH, entry)).toBe(expected);
    expect(canonicalRow(entry).split('\n')).toHaveLength(2);
  });

  it.each([
    ['a column', { ...entry, target: 'notes__write' }],
    ['the body', { ...entry, body: '{"v":1,"text":"line\\nbreaK"}' }],
    ['null vs empty', { ...entry, taskId: '' }],
  ])('changes when %s changes', (_what, changed) => {
    expect(entryHash(GENESIS_HASH, changed)).not.toBe(entryHash(GENESIS_HASH, entry));
  });

  it('hashes a header of fixed column order (format 1), whatever the column list says', () => {
    expect(canonicalRow(entry).split('\n')[0]).toBe(
      '[1,"01J0000000000000000000000A","intent",1,1,"i","tools/call","agent:a",null,"notes","notes__read","allow",null]',
    );
  });

  it('depends on the previous hash', () => {
    expect(entryHash('11'.repeat(32), entry)).not.toBe(entryHash(GENESIS_HASH, entry));
  });
});

describe('arguments before they are stored', () => {
  const redact = (text: string) => text.replaceAll('s3cr3t-value', '[SECRET]');

  it('blanks values under credential-like keys at any depth and redacts secret values everywhere', () => {
    const scrubbed = scrubValue(
      {
        query: 'x s3cr3t-value y',
        password: 'hunter2',
        nested: { API_KEY: 'k', list: [{ authorization: 'Bearer t' }] },
        token: '',
        note: 'ok',
      },
      redact,
    );
    expect(scrubbed).toEqual({
      query: 'x [SECRET] y',
      password: REDACTED,
      nested: { API_KEY: REDACTED, list: [{ authorization: REDACTED }] },
      token: '',
      note: 'ok',
    });
  });

  it('keeps small values whole and truncates large ones with a marker and a preview', () => {
    expect(capValue({ a: 'short' }, 256)).toEqual({ a: 'short' });
    const big = { text: 'x'.repeat(5000) };
    const capped = capValue(big, 300) as { $truncated: boolean; bytes: number; preview: string };
    expect(capped.$truncated).toBe(true);
    expect(capped.bytes).toBe(JSON.stringify(big).length);
    expect(Buffer.byteLength(capped.preview)).toBeLessThanOrEqual(300);
  });
});

describe('escaping for terminals, logs and spreadsheets', () => {
  it.each([
    ['ANSI colour', 'a\u001b[31mred', 'a\\u001b[31mred'],
    ['OSC 52 clipboard write', '\u001b]52;c;ZXZpbA==\u0007', '\\u001b]52;c;ZXZpbA==\\u0007'],
    ['newline (log line forging)', 'ok\n2026-01-01 admin login', 'ok\\u000a2026-01-01 admin login'],
    ['carriage return', 'a\rb', 'a\\u000db'],
    ['bidi override', 'evil\u202etxt.exe', 'evil\\u202etxt.exe'],
    ['zero width', 'a\u200bb', 'a\\u200bb'],
    ['C1 CSI', 'a\u009b31m', 'a\\u009b31m'],
    ['line separator', 'a\u2028b', 'a\\u2028b'],
    ['tag characters', 'a\u{e0041}', 'a\\u{e0041}'],
    ['plain text', 'notes__read', 'notes__read'],
  ])('%s', (_name, input, expected) => {
    expect(escapeControls(input)).toBe(expected);
  });

  it.each([
    ['=HYPERLINK("http://evil.example","x")', `"'=HYPERLINK(""http://evil.example"",""x"")"`],
    ['+1+cmd|/C calc!A0', "'+1+cmd|/C calc!A0"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1:A2)', "'@SUM(A1:A2)"],
    ['\t=1', "'\\u0009=1"],
    ['\r=1', "'\\u000d=1"],
    ['  =1', "'  =1"],
    [' padded ', '" padded "'],
    ['\uff1d1+1', "'\uff1d1+1"],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['multi\nline', 'multi\\u000aline'],
    ['plain', 'plain'],
  ])('CSV cell %j', (input, expected) => {
    expect(csvCell(input)).toBe(expected);
  });

  it('leaves numbers alone and writes objects as JSON', () => {
    expect(csvCell(-32602)).toBe('-32602');
    expect(csvCell({ a: '=1' })).toBe('"{""a"":""=1""}"');
    expect(csvCell(null)).toBe('');
    expect(csvLine(['a', 1, null])).toBe('a,1,\r\n');
  });

  it('JSON lines escape what JSON.stringify leaves raw and still parse back', () => {
    const value = { text: 'a\u202eb\u2028c\u009bd\u001be\u{e0041}' };
    const line = safeJson(value);
    // eslint-disable-next-line no-control-regex -- asserting these are gone
    expect(line).not.toMatch(/[\u001b\u009b\u2028\u202e]|[\u{e0000}-\u{e007f}]/u);
    expect(JSON.parse(line)).toEqual(value);
  });
});

describe('time filters', () => {
  const now = Date.parse('2026-05-10T12:00:00Z');
  it.each([
    ['15m', now - 15 * 60_000],
    ['2h', now - 2 * 3_600_000],
    ['7d', now - 7 * 86_400_000],
    ['2026-05-01', Date.parse('2026-05-01T00:00:00Z')],
    ['2026-05-01T10:30:00Z', Date.parse('2026-05-01T10:30:00Z')],
  ])('%s', (text, expected) => {
    expect(parseTime(text, '--since', now)).toBe(expected);
  });

  it('refuses what is not a time', () => {
    expect(() => parseTime('yesterday-ish', '--since', now)).toThrow(/--since: not a date/);
  });
});
