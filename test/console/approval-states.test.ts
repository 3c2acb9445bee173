// A call held for a person's approval reads as the approval's state in the console API (feed rows and the
// call page), not as an allow that was rejected: waiting for approval (out of band), approval denied (the
// user declined in band) and approval expired (the user never answered before the approval's TTL). On
// both stores: the data folder's SQLite files, and a real PostgreSQL (where the feed reads the nested
// '$.approval.status' through pgStatement and the approvals are the shared store's).
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, useFixtureHttp } from '../helpers/gateway.js';
import { usePostgres } from '../helpers/postgres.js';
import {
  consoleRequest,
  loginCode,
  signIn,
  startConsoleGateway,
  type ConsoleGateway,
  type SignedIn,
} from './helpers.js';

const POLICY = `version: 1
agents:
  - id: everyone
    match: {}
    grants:
      - { id: fx-pid-approved, effect: allow, tools: [fx__fixture_pid], approval: required }
reviewers:
  - { subject: alice }
`;

const pgDb = usePostgres();

// One downstream for the file's four gateways: the fixture over HTTP, which each gateway connects to.
const fixture = useFixtureHttp();

interface Row {
  id: string;
  target: string;
  decision: string;
  outcome: string;
  approval: string | null;
}

// Two gateways: one whose approvals outlive any test (so a loaded machine cannot turn "declined" or "waiting"
// into "expired"), and one whose approvals expire after a second (waiting for that only makes it more expired).
describe.each(['sqlite', 'postgres'] as const)('console on %s: calls held for approval', (kind) => {
  let warden: ConsoleGateway;
  let alice: SignedIn;
  let shortLived: ConsoleGateway;
  let bob: SignedIn;
  /** Each gateway its own installation: on PostgreSQL its own schema. */
  const store = (schema: string) => (kind === 'postgres' ? { store: { kind: 'postgres', url: pgDb.url, schema } } : {});
  const servers = () => ({ fx: { transport: 'http', url: fixture.url() } });

  beforeAll(async () => {
    [warden, shortLived] = await Promise.all([
      startConsoleGateway({
        policy: POLICY,
        servers: servers(),
        config: { gateway: { approvals: { ttlSeconds: 3_600 } }, ...store('approval_states_long') },
      }),
      startConsoleGateway({
        policy: POLICY,
        servers: servers(),
        config: { gateway: { approvals: { ttlSeconds: 1 } }, ...store('approval_states_short') },
      }),
    ]);
    [alice, bob] = await Promise.all([
      signIn(warden.origin, loginCode(warden.gateway.configFile, 'alice')),
      signIn(shortLived.origin, loginCode(shortLived.gateway.configFile, 'alice')),
    ]);
  });

  afterAll(async () => {
    await Promise.all([warden?.stop(), shortLived?.stop()]);
  });

  /** One call to fx__fixture_pid from a fresh agent; `answer` is its elicitation handler (none: out of band). */
  async function heldCall(answer?: () => Promise<{ action: 'decline' }>, at = warden, as = alice): Promise<Row> {
    const { client } = await connectHttp(at.gateway.url, answer ? { capabilities: { elicitation: { form: {} } } } : {});
    try {
      if (answer) client.setRequestHandler(ElicitRequestSchema, answer);
      await expect(client.callTool({ name: 'fx__fixture_pid', arguments: {} })).rejects.toThrow(/Approval/);
    } finally {
      await client.close();
    }
    const feed = await consoleRequest(at.origin, {
      path: '/api/calls?tool=fx__fixture_pid&limit=1',
      cookie: as.cookie,
    });
    expect(feed.status).toBe(200);
    return (feed.json.rows as Row[])[0]!;
  }

  async function callPage(
    id: string,
    at = warden,
    as = alice,
  ): Promise<{ outcome: { outcome: string; body: { approval?: { id: string; status: string } } } }> {
    const response = await consoleRequest(at.origin, { path: `/api/calls/${id}`, cookie: as.cookie });
    expect(response.status).toBe(200);
    return response.json as never;
  }

  it('an out-of-band approval still open reads as waiting for approval', async () => {
    const row = await heldCall();
    expect(row).toMatchObject({ decision: 'allow', outcome: 'rejected', approval: 'pending' });
    const detail = await callPage(row.id);
    expect(detail.outcome.body.approval).toEqual({ id: expect.any(String), status: 'pending' });
  });

  it('an approval the user declined reads as approval denied', async () => {
    const row = await heldCall(async () => ({ action: 'decline' }));
    expect(row).toMatchObject({ outcome: 'rejected', approval: 'denied' });
    expect((await callPage(row.id)).outcome.body.approval).toMatchObject({ status: 'denied' });
  });

  it('an approval nobody answered before its TTL reads as approval expired', async () => {
    const row = await heldCall(() => new Promise(() => undefined), shortLived, bob);
    expect(row).toMatchObject({ outcome: 'rejected', approval: 'expired' });
    expect((await callPage(row.id, shortLived, bob)).outcome.body.approval).toMatchObject({ status: 'expired' });
  });

  it('every held call on the feed carries its approval state', async () => {
    const feed = await consoleRequest(warden.origin, { path: '/api/calls?limit=50', cookie: alice.cookie });
    const rows = feed.json.rows as Row[];
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(['pending', 'denied', 'expired']).toContain(row.approval);
  });
});
