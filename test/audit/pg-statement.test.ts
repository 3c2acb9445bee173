// pgStatement: the reviewer statements of src/audit/queries.ts (written for SQLite) as PostgreSQL runs them.
// String literals are left exactly as written: nothing inside one is taken for a parameter, a table or
// an alias.
import { describe, expect, it } from 'vitest';
import { pgStatement } from '../../src/audit/pg/reader.js';

describe('pgStatement', () => {
  it.each([
    [
      'parameters, tables and camel-case aliases',
      'SELECT d.seq AS intentSeq FROM entries d WHERE d.id IN (SELECT id FROM open_intents) AND d.seq > ?',
      [5],
      'SELECT d.seq AS "intentSeq" FROM audit_entries d WHERE d.id IN (SELECT id FROM audit_open_intents) AND d.seq > $1',
      [5],
    ],
    [
      'a glob as an anchored regular expression',
      'SELECT seq FROM entries d WHERE d.subject GLOB ? AND d.seq < ?',
      ['agent:*', 9],
      'SELECT seq FROM audit_entries d WHERE d.subject ~ $1 AND d.seq < $2',
      ['^agent:.*$', 9],
    ],
    [
      'json_extract and a boolean sum',
      "SELECT json_extract(o.body, '$.durationMs') AS durationMs, sum(d.outcome = 'denied') AS denied FROM entries d",
      [],
      `SELECT (o.body::jsonb ->> 'durationMs') AS "durationMs", count(*) FILTER (WHERE d.outcome = 'denied') AS denied FROM audit_entries d`,
      [],
    ],
    [
      'a nested json_extract path',
      "SELECT json_extract(o.body, '$.approval.status') AS approval FROM entries o",
      [],
      `SELECT (o.body::jsonb #>> '{approval,status}') AS approval FROM audit_entries o`,
      [],
    ],
    [
      'a ? inside a literal',
      "SELECT seq FROM entries WHERE target = 'what?' AND seq > ?",
      [1],
      "SELECT seq FROM audit_entries WHERE target = 'what?' AND seq > $1",
      [1],
    ],
    [
      'a table name and an alias inside a literal, and a doubled quote',
      "SELECT seq FROM entries WHERE body = 'it''s entries AS someName' AND type = ?",
      ['x'],
      "SELECT seq FROM audit_entries WHERE body = 'it''s entries AS someName' AND type = $1",
      ['x'],
    ],
  ])('%s', (_what, sql, params, text, values) => {
    expect(pgStatement(sql, params)).toEqual({ text, values });
  });
});
