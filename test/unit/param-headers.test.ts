// x-mcp-header marks and Mcp-Param-* headers (src/model/param-headers.ts): which marks are sound, how a
// value is written, and what an agent's header must say.
import { describe, expect, it } from 'vitest';
import { encodeHeaderValue, mirroredHeaders, paramHeaderProblem, paramHeaders } from '../../src/model/param-headers.js';

const schema = (properties: Record<string, unknown>) => ({ type: 'object', properties });

describe('x-mcp-header marks', () => {
  it.each([
    [
      'a string, an integer and a nested boolean',
      schema({
        a: { type: 'string', 'x-mcp-header': 'A' },
        n: { type: 'integer', 'x-mcp-header': 'N' },
        o: { type: 'object', properties: { b: { type: 'boolean', 'x-mcp-header': 'B' } } },
      }),
      ['A', 'N', 'B'],
    ],
    ['no marks', schema({ a: { type: 'string' } }), []],
  ])('finds %s', (_name, input, names) => {
    expect(paramHeaders(input)?.map((p) => p.name)).toEqual(names);
  });

  it.each([
    ['a mark on a number', schema({ a: { type: 'number', 'x-mcp-header': 'A' } })],
    ['a mark on an object', schema({ a: { type: 'object', 'x-mcp-header': 'A' } })],
    ['a name that is not a token', schema({ a: { type: 'string', 'x-mcp-header': 'A B' } })],
    [
      'two names equal but for case',
      schema({ a: { type: 'string', 'x-mcp-header': 'Id' }, b: { type: 'string', 'x-mcp-header': 'ID' } }),
    ],
  ])('refuses %s', (_name, input) => {
    expect(paramHeaders(input)).toBeUndefined();
  });
});

describe('Mcp-Param-* values', () => {
  it.each([
    ['eu-west-1', 'eu-west-1'],
    [' padded', `=?base64?${Buffer.from(' padded').toString('base64')}?=`],
    ['Zürich', `=?base64?${Buffer.from('Zürich').toString('base64')}?=`],
    ['', '=?base64??='],
  ])('writes %j as %j', (text, header) => {
    expect(encodeHeaderValue(text)).toBe(header);
  });

  const declared = paramHeaders(
    schema({ r: { type: 'string', 'x-mcp-header': 'R' }, n: { type: 'integer', 'x-mcp-header': 'N' } }),
  )!;

  it('mirrors present primitives only', () => {
    expect(mirroredHeaders(declared, { r: 'x', n: 2 })).toEqual({ 'Mcp-Param-R': 'x', 'Mcp-Param-N': '2' });
    expect(mirroredHeaders(declared, { n: null })).toEqual({});
  });

  it.each([
    [{ r: 'x' }, { 'mcp-param-r': 'x' }, undefined],
    [{ n: 3 }, { 'mcp-param-n': '3.0' }, undefined],
    [{}, { 'mcp-param-r': 'anything' }, undefined],
    [{ r: 'x' }, {}, 'required'],
    [{ r: 'x' }, { 'mcp-param-r': 'y' }, 'does not match'],
    [{ r: 'x' }, { 'mcp-param-r': '=?base64?%%?=' }, 'not valid base64'],
  ])('checks %j against %j', (args, headers: Record<string, string>, problem) => {
    const found = paramHeaderProblem(declared, args, (name) => headers[name]);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found?.message).toContain(problem);
  });
});
