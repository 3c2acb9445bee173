// The circuit breaker in the console (issue 16): GET /api/servers and the Servers page show each
// server's breaker from the gateway the console runs in. A server stuck in initialize opens its breaker
// at start-up (its connect times out); the fixture's stays closed. Real `serve`, real servers, real
// chromium (playwright-core), as test/console/e2e.test.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE, ROOT } from '../helpers/gateway.js';
import { consoleRequest, loginCode, signIn, startConsoleGateway, type ConsoleGateway } from './helpers.js';

const CHROMIUM = process.env.MCP_WARDEN_CHROMIUM ?? '/usr/bin/chromium';
const FAULTY = join(ROOT, 'dist/test/fixtures/faulty-server.js');
const UI_TIMEOUT = 10_000;

interface ServerRow {
  id: string;
  status: string;
  transport: string;
  breaker: { state: string; failures: number; since: number; retryAt?: number; lastError?: string };
}

let warden: ConsoleGateway;

beforeAll(async () => {
  warden = await startConsoleGateway({
    servers: {
      fx: { transport: 'stdio', command: 'node', args: [FIXTURE, '--stdio'] },
      stuck: { transport: 'stdio', command: 'node', args: [FAULTY, '--stuck'], connectTimeoutMs: 2_000 },
    },
  });
});

afterAll(async () => {
  await warden?.stop();
});

describe('server health and circuit breakers in the console', () => {
  it("GET /api/servers: the stuck server's breaker is open with its reason; the other is closed; signed-in reviewers only", async () => {
    expect((await consoleRequest(warden.origin, { path: '/api/servers' })).status).toBe(401);
    const { cookie } = await signIn(warden.origin, loginCode(warden.gateway.configFile, 'alice'));
    const response = await consoleRequest(warden.origin, { path: '/api/servers', cookie });
    expect(response.status).toBe(200);
    const servers = response.json.servers as ServerRow[];
    expect(servers.map((s) => s.id)).toEqual(['fx', 'stuck']);
    const [fx, stuck] = servers;
    expect(fx).toMatchObject({ status: 'up', transport: 'stdio', breaker: { state: 'closed', failures: 0 } });
    expect(stuck!.status).toBe('down');
    // Open until its probe is due, half-open while the probe waits out the same timeout.
    expect(['open', 'half-open']).toContain(stuck!.breaker.state);
    expect(stuck!.breaker.lastError).toMatch(/timed out/i);
    expect(stuck!.breaker.failures).toBeGreaterThan(0);
  });

  it('the Servers page shows each breaker', async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh (npm test runs it first)`);
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await (await browser.newContext()).newPage();
      page.setDefaultTimeout(UI_TIMEOUT);
      await page.goto(`${warden.origin}/#login=${loginCode(warden.gateway.configFile, 'alice')}`);
      await expect.poll(() => page.getByTestId('reviewer').textContent(), { timeout: UI_TIMEOUT }).toBe('alice');
      await page.locator('#nav a[data-route=servers]').click();
      const stuck = page.locator('tr[data-server=stuck]');
      await stuck.waitFor();
      expect(await page.locator('tr[data-server=fx] td[data-breaker]').textContent()).toBe('closed (calls go through)');
      expect(await stuck.locator('td[data-breaker]').textContent()).toMatch(
        /^(open \(calls fail at once\)|half-open \(probing\))$/,
      );
      expect(await stuck.textContent()).toMatch(/timed out/i);
      expect(await page.locator('#nav a.active').textContent()).toBe('Servers');
    } finally {
      await browser.close();
    }
  });
});
