// ApprovalStore on a real state.db in a temp dir: binding, reuse of pending requests, single use (also
// across two connections), expiry by the injected clock, and the errors a reviewer sees.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isWardenError } from '../../src/errors.js';
import {
  ApprovalStore,
  approvalEvent,
  bindingDigest,
  effectiveStatus,
  type ApprovalRequest,
} from '../../src/integrity/approvals.js';
import type { ApprovalBinding } from '../../src/integrity/types.js';
import { makeTempDir, type TempDir } from '../helpers/process.js';

const T0 = 1_800_000_000_000;
const TTL = 300_000;

const binding: ApprovalBinding = {
  issuer: 'urn:mcp-warden:builtin',
  subject: 'agent:a',
  taskId: 'task-1',
  server: 'notes',
  tool: 'notes__write_note',
  definitionHash: 'sha256:aaaa',
  argumentsDigest: 'sha256:bbbb',
};

function request(
  b: ApprovalBinding = binding,
  now = T0,
  channel: ApprovalRequest['channel'] = 'out-of-band',
): ApprovalRequest {
  return {
    binding: b,
    channel,
    summary: { tool: b.tool, server: b.server, arguments: { name: 'n' } },
    callId: 'CALL1',
    now,
    ttlMs: TTL,
  };
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isWardenError(error) ? error.code : 'not a WardenError';
  }
  return undefined;
}

describe('ApprovalStore', () => {
  let dir: TempDir;
  let file: string;
  let store: ApprovalStore;

  beforeEach(async () => {
    dir = await makeTempDir('warden-approvals');
    file = join(dir.path, 'state.db');
    store = ApprovalStore.open(file);
  });

  afterEach(async () => {
    store.close();
    await dir.cleanup();
  });

  // Stored approvals are found by this digest: it must not change when its code moves.
  it('the binding digest is the one written by earlier versions', () => {
    expect(bindingDigest(binding)).toBe('sha256:17908343b6f8da1fbc8e3974f0491f5ed0e7f48bfd1b18e2aa924906c81f103c');
    const { taskId: _taskId, ...untasked } = binding;
    expect(bindingDigest({ ...untasked, tenant: 'acme' })).toBe(
      'sha256:9e387a8faf73ee5aa7c140f49b4f70a7063db6a584cc3eec185a0843eef74ecb',
    );
  });

  it('a repeated identical request reuses the pending approval; any other binding gets its own', () => {
    const first = store.request(request());
    expect(first.created).toBe(true);
    expect(first.row).toMatchObject({
      status: 'pending',
      channel: 'out-of-band',
      callId: 'CALL1',
      expiresAt: T0 + TTL,
      binding: bindingDigest(binding),
    });
    const again = store.request(request(binding, T0 + 1_000));
    expect(again).toMatchObject({ created: false, row: { id: first.row.id } });
    for (const field of [
      'issuer',
      'subject',
      'tenant',
      'taskId',
      'server',
      'tool',
      'definitionHash',
      'argumentsDigest',
    ] as const) {
      const other = store.request(request({ ...binding, [field]: `${String(binding[field])}-other` }));
      expect(other.created, field).toBe(true);
      expect(other.row.id).not.toBe(first.row.id);
    }
    // No task is a binding of its own, not a wildcard.
    const { taskId: _omitted, ...noTask } = binding;
    expect(bindingDigest(noTask)).not.toBe(bindingDigest(binding));
  });

  it('an approved approval is used once, by the identical binding only, before it expires', () => {
    const { row } = store.request(request());
    expect(store.consume(binding, T0 + 1)).toBeUndefined(); // still pending
    const approved = store.approve(row.id, 'alice@host', T0 + 10);
    expect(approved).toMatchObject({ status: 'approved', decidedBy: 'alice@host', decidedAt: T0 + 10 });
    expect(store.consume({ ...binding, argumentsDigest: 'sha256:changed' }, T0 + 20)).toBeUndefined();
    expect(store.consume({ ...binding, subject: 'agent:b' }, T0 + 20)).toBeUndefined();
    expect(store.consume({ ...binding, tenant: 'acme' }, T0 + 20)).toBeUndefined(); // same subject, another tenant
    expect(store.consume(binding, T0 + 20)).toMatchObject({ id: row.id, status: 'used', usedAt: T0 + 20 });
    expect(store.consume(binding, T0 + 21)).toBeUndefined();
    expect(store.get(row.id)?.status).toBe('used');
  });

  it('two connections racing for one approval: exactly one uses it', () => {
    const other = ApprovalStore.open(file);
    try {
      const { row } = store.request(request());
      store.approve(row.id, 'alice@host', T0 + 1);
      const results = [store.consume(binding, T0 + 2), other.consume(binding, T0 + 2)];
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    } finally {
      other.close();
    }
  });

  it('expiry: an approved approval past its expiry is not used, and expireDue records it as expired', () => {
    const { row } = store.request(request());
    store.approve(row.id, 'alice@host', T0 + 1);
    expect(store.consume(binding, T0 + TTL)).toBeUndefined();
    expect(effectiveStatus(store.get(row.id)!, T0 + TTL)).toBe('expired');
    expect(store.expireDue(T0 + TTL - 1)).toEqual([]);
    const expired = store.expireDue(T0 + TTL, binding);
    expect(expired.map((r) => [r.id, r.status])).toEqual([[row.id, 'expired']]);
    expect(store.expireDue(T0 + TTL)).toEqual([]); // already final
    // A new request for the same binding is a new approval.
    expect(store.request(request(binding, T0 + TTL)).created).toBe(true);
  });

  it.each([
    ['unknown', (): string => 'NOPE', 'ERR_APPROVAL_NOT_FOUND'],
    ['expired', (s: ApprovalStore): string => s.request(request()).row.id, 'ERR_APPROVAL_CLOSED', T0 + TTL],
    [
      'denied',
      (s: ApprovalStore): string => s.deny(s.request(request()).row.id, 'bob@host', T0 + 1, 'no').id,
      'ERR_APPROVAL_CLOSED',
    ],
    [
      'used',
      (s: ApprovalStore): string => {
        const id = s.request(request()).row.id;
        s.approve(id, 'alice@host', T0 + 1);
        s.consume(binding, T0 + 2);
        return id;
      },
      'ERR_APPROVAL_CLOSED',
    ],
    [
      'already approved',
      (s: ApprovalStore): string => {
        const id = s.request(request()).row.id;
        s.approve(id, 'alice@host', T0 + 1);
        return id;
      },
      'ERR_APPROVAL_CLOSED',
    ],
  ] as const)('approve and deny of a %s approval fail with a clear error', (_name, setup, code, at = T0 + 5) => {
    const id = setup(store);
    expect(codeOf(() => store.approve(id, 'carol@host', at))).toBe(code);
    expect(codeOf(() => store.deny(id, 'carol@host', at))).toBe(code);
  });

  it('error messages say why: expired, used, denied (and by whom)', () => {
    const id = store.request(request()).row.id;
    store.deny(id, 'bob@host', T0 + 1, 'not today');
    expect(() => store.approve(id, 'carol@host', T0 + 2)).toThrow(
      /cannot approve approval .*: it was denied by bob@host/,
    );
    const row = store.get(id)!;
    expect(row).toMatchObject({ status: 'denied', reason: 'not today', decidedBy: 'bob@host' });
    const id2 = store.request(request(binding, T0 + 3)).row.id;
    expect(() => store.approve(id2, 'carol@host', T0 + 3 + TTL)).toThrow(/expired at/);
  });

  it("lists newest first with a status filter, finds a call's approvals, and events carry the binding", () => {
    const a = store.request(request(binding, T0)).row;
    const b = store.request(request({ ...binding, argumentsDigest: 'sha256:2' }, T0 + 1)).row;
    store.deny(a.id, 'bob@host', T0 + 2);
    expect(store.list().map((r) => r.id)).toEqual([b.id, a.id]);
    expect(store.list({ status: 'denied' }).map((r) => r.id)).toEqual([a.id]);
    expect(store.list({ limit: 1, offset: 1 }).map((r) => r.id)).toEqual([a.id]);
    expect(store.forCall('CALL1').map((r) => r.id)).toEqual([a.id, b.id]);
    const event = approvalEvent('approval.use', store.get(b.id)!, { callId: 'CALL2' });
    expect(event).toMatchObject({
      type: 'approval.use',
      subject: 'agent:a',
      taskId: 'task-1',
      target: 'notes__write_note',
      data: {
        approvalId: b.id,
        callId: 'CALL2',
        requestCallId: 'CALL1',
        channel: 'out-of-band',
        tool: 'notes__write_note',
        argumentsDigest: 'sha256:2',
        definitionHash: 'sha256:aaaa',
      },
    });
  });

  it('requestWithin: no new request once the agent has that many waiting (the identical one is still reused); others unaffected', () => {
    const args = (i: number): ApprovalBinding => ({ ...binding, argumentsDigest: `sha256:${i}` });
    for (let i = 0; i < 3; i += 1)
      expect(store.requestWithin(request(args(i), T0 + i), 3)).toMatchObject({ created: true });
    expect(store.requestWithin(request(args(99), T0 + 5), 3)).toEqual({ limited: { count: 3, firstExpiry: T0 + TTL } });
    expect(store.requestWithin(request(args(1), T0 + 5), 3)).toMatchObject({ created: false });
    expect(store.requestWithin(request({ ...args(99), subject: 'agent:b' }, T0 + 5), 3)).toMatchObject({
      created: true,
    });
    expect(store.requestWithin(request({ ...args(99), tenant: 'acme' }, T0 + 5), 3)).toMatchObject({
      created: true,
      row: { tenant: 'acme' },
    });
    expect(store.openFor(binding.issuer, binding.subject, T0 + 5)).toEqual({ count: 3, firstExpiry: T0 + TTL });
    // Once they expire, there is room again.
    expect(store.requestWithin(request(args(99), T0 + TTL + 2), 3)).toMatchObject({ created: true });
  });

  it('the general expiry sweep is bounded per call, oldest first', () => {
    for (let i = 0; i < 5; i += 1) store.request(request({ ...binding, argumentsDigest: `sha256:${i}` }, T0 + i));
    const first = store.expireDue(T0 + TTL + 10, undefined, 2);
    expect(first.map((r) => r.expiresAt)).toEqual([T0 + TTL, T0 + TTL + 1]);
    expect(store.expireDue(T0 + TTL + 10, undefined, 10)).toHaveLength(3);
  });

  it('a read-only store reads what a writer wrote and cannot change it', () => {
    const { row } = store.request(request());
    const reader = ApprovalStore.open(file, { readonly: true });
    try {
      expect(reader.get(row.id)?.summary).toEqual({
        tool: 'notes__write_note',
        server: 'notes',
        arguments: { name: 'n' },
      });
      expect(() => reader.approve(row.id, 'x', T0 + 1)).toThrow();
    } finally {
      reader.close();
    }
    expect(store.get(row.id)?.status).toBe('pending');
  });
});
