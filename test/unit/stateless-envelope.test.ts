// The 2026-07-28 envelope rules, table-driven: which era a POST is, and each refusal's status and code.
import { describe, expect, it } from 'vitest';
import {
  decodeHeaderValue,
  isStatelessVersion,
  routeEra,
  type EraHeaders,
} from '../../src/ingress/stateless-envelope.js';

const V = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {} };
const call = (name: unknown, meta: Record<string, unknown> | null = META) => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name, ...(meta && { _meta: meta }) },
});
const ok: EraHeaders = { protocolVersion: V, method: 'tools/call', name: 'fx__a' };
const b64 = (text: string) => `=?base64?${Buffer.from(text).toString('base64')}?=`;

describe('routeEra', () => {
  it.each<[string, EraHeaders, Record<string, unknown>]>([
    ['a session id', { sessionId: 's', protocolVersion: V }, call('fx__a')],
    [
      'initialize without the envelope, even with a 2026 header',
      { protocolVersion: V, method: 'initialize' },
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {} } },
    ],
    ['no claim and a 2025 header', { protocolVersion: '2025-11-25' }, call('fx__a', null)],
    ['no claim and no header', {}, call('fx__a', null)],
  ])('%s is 2025', (_name, headers, body) => {
    expect(routeEra(headers, body)).toEqual({ era: '2025' });
  });

  it.each<[string, EraHeaders, Record<string, unknown>, number, number]>([
    ['Mcp-Name names another tool', { ...ok, name: 'fx__b' }, call('fx__a'), 400, -32020],
    ['Mcp-Name base64 of another tool', { ...ok, name: b64('fx__b') }, call('fx__a'), 400, -32020],
    ['Mcp-Name missing', { protocolVersion: V, method: 'tools/call' }, call('fx__a'), 400, -32020],
    ['Mcp-Name with no body name', ok, call(undefined), 400, -32020],
    ['Mcp-Method missing', { protocolVersion: V, name: 'fx__a' }, call('fx__a'), 400, -32020],
    ['Mcp-Method disagrees', { ...ok, method: 'tools/list' }, call('fx__a'), 400, -32020],
    ['MCP-Protocol-Version missing', { method: 'tools/call', name: 'fx__a' }, call('fx__a'), 400, -32020],
    ['MCP-Protocol-Version disagrees', { ...ok, protocolVersion: '2026-08-01' }, call('fx__a'), 400, -32020],
    [
      'unsupported version',
      { ...ok, protocolVersion: '2099-01-01' },
      call('fx__a', { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }),
      400,
      -32022,
    ],
    ['a 2026 header and no _meta', ok, call('fx__a', null), 400, -32602],
    ['no clientCapabilities', ok, call('fx__a', { 'io.modelcontextprotocol/protocolVersion': V }), 400, -32602],
    [
      'clientInfo of the wrong shape',
      ok,
      call('fx__a', { ...META, 'io.modelcontextprotocol/clientInfo': 'me' }),
      400,
      -32602,
    ],
    [
      'a logLevel that is not a log level',
      ok,
      call('fx__a', { ...META, 'io.modelcontextprotocol/logLevel': 'loud' }),
      400,
      -32602,
    ],
    ['a posted response', { protocolVersion: V }, { jsonrpc: '2.0', id: 1, result: {} }, 400, -32600],
  ])('%s → %i / %i', (_name, headers, body, status, code) => {
    const route = routeEra(headers, body);
    expect(
      route.era === '2026' && 'refusal' in route && { status: route.refusal.status, code: route.refusal.code },
    ).toEqual({ status, code });
  });

  it('a refusal names the body target (what would have run), never the header claim', () => {
    const route = routeEra({ ...ok, name: 'fx__b' }, call('fx__a'));
    expect(route.era === '2026' && 'refusal' in route && route.refusal.target).toBe('fx__a');
  });

  it('an unsupported version names supported and requested', () => {
    const route = routeEra(
      { ...ok, protocolVersion: '2099-01-01' },
      call('fx__a', { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }),
    );
    expect(route.era === '2026' && 'refusal' in route && route.refusal.data).toEqual({
      supported: [V],
      requested: '2099-01-01',
    });
  });

  it('a valid request: envelope keys leave _meta, other keys stay, clientInfo is kept aside', () => {
    const meta = { ...META, 'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' }, progressToken: 5 };
    const route = routeEra({ ...ok, name: b64('fx__a') }, call('fx__a', meta));
    expect(route).toEqual({
      era: '2026',
      request: {
        id: 1,
        method: 'tools/call',
        params: { name: 'fx__a', _meta: { progressToken: 5 } },
        version: V,
        clientCapabilities: {},
        clientInfo: { name: 'c', version: '1' },
      },
    });
  });

  it('an initialize with the 2026 envelope is a 2026 request (for a method 2026-07-28 removed)', () => {
    const route = routeEra(
      { protocolVersion: V, method: 'initialize' },
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { _meta: META } },
    );
    expect(route).toMatchObject({ era: '2026', request: { id: 1, method: 'initialize' } });
  });

  it('a notification is 2026 and needs no headers beyond the version', () => {
    expect(
      routeEra({ protocolVersion: V }, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { _meta: META } }),
    ).toEqual({ era: '2026', notification: { method: 'notifications/cancelled' } });
  });
});

describe('decodeHeaderValue and isStatelessVersion', () => {
  it.each<[string, string | undefined]>([
    ['fx__a', 'fx__a'],
    [b64('fx__ä'), 'fx__ä'],
    ['=?base64?%%%?=', undefined],
    ['=?base64?Zm9v?', undefined],
    ['=?base64?Zm9=?=', undefined],
    [`=?base64?${Buffer.from([0xff, 0xfe]).toString('base64')}?=`, undefined],
  ])('%s → %s', (value, decoded) => {
    expect(decodeHeaderValue(value)).toBe(decoded);
  });

  it.each<[string | undefined, boolean]>([
    ['2026-07-28', true],
    ['2099-01-01', true],
    ['2025-11-25', false],
    ['latest', false],
    [undefined, false],
  ])('%s is stateless: %s', (version, expected) => {
    expect(isStatelessVersion(version)).toBe(expected);
  });
});

describe('routeEra with no header layer (stdio)', () => {
  it.each<[string, Record<string, unknown>]>([
    [
      'initialize without the envelope',
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {} } },
    ],
    ['a request with no claim', call('fx__a', null)],
    ['a response', { jsonrpc: '2.0', id: 1, result: {} }],
  ])('%s is 2025', (_name, body) => {
    expect(routeEra(undefined, body)).toEqual({ era: '2025' });
  });

  it('a request with the envelope is 2026 with no header checks (no -32020 for want of Mcp-Name)', () => {
    const route = routeEra(undefined, call('fx__a'));
    expect(route).toMatchObject({ era: '2026', request: { id: 1, method: 'tools/call', params: { name: 'fx__a' } } });
  });

  it.each<[string, Record<string, unknown>, number]>([
    [
      'unsupported version',
      call('fx__a', { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }),
      -32022,
    ],
    ['no clientCapabilities', call('fx__a', { 'io.modelcontextprotocol/protocolVersion': V }), -32602],
    [
      'a 2025 version claimed in _meta',
      call('fx__a', { ...META, 'io.modelcontextprotocol/protocolVersion': '2025-11-25' }),
      -32022,
    ],
  ])('%s is refused', (_name, body, code) => {
    expect(routeEra(undefined, body)).toMatchObject({ era: '2026', refusal: { code, id: 1, target: 'fx__a' } });
  });
});
