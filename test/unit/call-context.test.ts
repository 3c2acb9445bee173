// The call-context builder every governed request goes through (the session's handlers, and any path
// that builds no SDK `extra`): plain values and the pipeline's clock in, one CallContext out.
import { describe, expect, it } from 'vitest';
import { buildCallContext, requestTraceparent, type CallRequest } from '../../src/gateway/call-context.js';
import type { Principal } from '../../src/model/principal.js';

const principal: Principal = {
  subject: 'agent-a',
  issuer: 'https://issuer.test',
  delegation: [],
  scopes: [],
  authMethod: 'jwt',
};
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const request: CallRequest = {
  ingress: 'http',
  sessionId: 'session-1',
  protocolVersion: '2025-11-25',
  jsonrpcId: 7,
  method: 'tools/call',
  server: 'files',
  target: 'files__read',
  downstreamTarget: 'read',
};

describe('buildCallContext', () => {
  it('takes startedAt from the clock it is given, not the system clock', () => {
    const ctx = buildCallContext(principal, request, () => 1_000);
    expect(ctx.startedAt).toBe(1_000);
  });

  it('carries the request as the pipeline reads it', () => {
    const controller = new AbortController();
    const ctx = buildCallContext(
      principal,
      { ...request, arguments: { path: '/tmp/x' }, signal: controller.signal, definitionHash: 'sha256:abc' },
      () => 5,
    );
    expect(ctx).toMatchObject({
      ingress: 'http',
      sessionId: 'session-1',
      protocolVersion: '2025-11-25',
      jsonrpcId: 7,
      principal,
      method: 'tools/call',
      server: 'files',
      target: 'files__read',
      downstreamTarget: 'read',
      arguments: { path: '/tmp/x' },
      definitionHash: 'sha256:abc',
      toolHash: 'sha256:abc',
    });
    expect(ctx.signal).toBe(controller.signal);
    expect(ctx.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gives every request its own id', () => {
    const a = buildCallContext(principal, request, () => 0);
    const b = buildCallContext(principal, request, () => 0);
    expect(a.requestId).not.toBe(b.requestId);
    expect(a.traceId).not.toBe(b.traceId);
  });

  it('keeps only name and version of the self-reported client', () => {
    const clientInfo = { name: 'host', version: '1.2', title: 'extra field' } as CallRequest['clientInfo'];
    expect(buildCallContext(principal, { ...request, clientInfo }, () => 0).clientInfo).toEqual({
      name: 'host',
      version: '1.2',
    });
  });

  it('continues a valid traceparent: its trace id becomes the call’s', () => {
    const ctx = buildCallContext(principal, { ...request, traceparent: TRACEPARENT }, () => 0);
    expect(ctx.traceparent).toBe(TRACEPARENT);
    expect(ctx.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it.each([
    ['a malformed value', 'not-a-traceparent'],
    ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['a number', 42],
  ])('ignores %s and starts a trace of its own', (_label, traceparent) => {
    const ctx = buildCallContext(principal, { ...request, traceparent }, () => 0);
    expect(ctx.traceparent).toBeUndefined();
    expect(ctx.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('leaves out what the request did not carry', () => {
    const ctx = buildCallContext(principal, request, () => 0);
    for (const key of ['arguments', 'signal', 'askUser', 'definitionHash', 'toolHash', 'clientInfo', 'traceparent'])
      expect(ctx).not.toHaveProperty(key);
  });
});

describe('requestTraceparent', () => {
  it.each([
    ['_meta first', { traceparent: TRACEPARENT }, { traceparent: 'bad' }, TRACEPARENT],
    ['the header when _meta has none', undefined, { traceparent: TRACEPARENT }, TRACEPARENT],
    ['the header when _meta has an invalid one', { traceparent: 'bad' }, { traceparent: TRACEPARENT }, TRACEPARENT],
    ['nothing valid', { traceparent: 7 }, { traceparent: ['a', 'b'] }, undefined],
    ['no headers at all', null, undefined, undefined],
  ])('%s', (_label, meta, headers, expected) => {
    expect(requestTraceparent(meta, headers)).toBe(expected);
  });
});
