// The console's "Policy impact" page end to end: Debian's chromium driven by playwright-core against the
// real gateway (`serve` with its console), a real agent over Streamable HTTP and the real fixture server.
// The screenshot goes to test-artifacts/console/policy-impact.png.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ROOT, connectHttp } from '../helpers/gateway.js';
import { loginCode, startConsoleGateway, type ConsoleGateway } from './helpers.js';

const CHROMIUM = process.env.MCP_WARDEN_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts/console');
const UI_TIMEOUT = 20_000;

const IN_FORCE = `version: 1
agents:
  - id: everyone
    match: {}
    grants:
      - { id: fx-text, effect: allow, tools: [fx__test_simple_text] }
reviewers:
  - { subject: alice }
`;

/** Swaps the two: text is denied, images allowed. */
const PROPOSED = `version: 1
agents:
  - id: everyone
    match: {}
    grants:
      - { id: fx-images, effect: allow, tools: [fx__test_image_content] }
grants:
  - { id: no-text, effect: deny, tools: [fx__test_simple_text] }
`;

async function ran(client: Client, name: string): Promise<boolean> {
  return client.callTool({ name, arguments: {} }).then(
    () => true,
    () => false,
  );
}

describe('console: policy impact', () => {
  let warden: ConsoleGateway;
  let browser: Browser;
  let page: Page;
  let agent: Client;

  beforeAll(async () => {
    // `npm test` installs the browser first, in its own visible step (pretest: scripts/ensure-chromium.sh).
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh (npm test runs it first)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    warden = await startConsoleGateway({ policy: IN_FORCE });
    ({ client: agent } = await connectHttp(warden.gateway.url));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT);
    const code = loginCode(warden.gateway.configFile, 'alice');
    await page.goto(`${warden.origin}/#login=${code}`);
    await page.getByTestId('reviewer').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await agent?.close();
    await warden?.stop();
  });

  it('replays a pasted policy: the summary, each changed decision and each list item it would hide or show, linking to its record; the policy in force is untouched', async () => {
    const listed = (await agent.listTools()).tools.map((t) => t.name).filter((name) => name.startsWith('fx__'));
    expect(listed).toEqual(['fx__test_simple_text']);
    expect(await ran(agent, 'fx__test_simple_text')).toBe(true);
    expect(await ran(agent, 'fx__test_simple_text')).toBe(true);
    expect(await ran(agent, 'fx__test_image_content')).toBe(false);

    await page.goto(`${warden.origin}/#/impact`);
    await page.getByTestId('impact-policy').fill(PROPOSED);
    await page.getByTestId('impact-run').click();
    const summary = page.getByTestId('impact-summary');
    await summary.waitFor();
    const value = (label: string) => summary.locator(`dt:text-is("${label}") + dd`).textContent();
    expect(await value('Evaluated')).toBe('4');
    expect(await value('Of which lists')).toBe('1');
    expect(await value('Unchanged')).toBe('0');
    expect(await value('Newly denied')).toBe('2');
    expect(await value('Newly allowed')).toBe('1');
    expect(await value('Newly hidden from lists')).toBe('1');
    expect(await value('Newly shown in lists')).toBe('1');
    expect(await value('Lists changed')).toBe('1 of 1');
    const denied = page.locator('[data-testid=impact-group][data-rule=no-text] [data-testid=impact-change]');
    expect(await denied.count()).toBe(3);
    expect(await denied.nth(2).textContent()).toMatch(
      /tools\/list fx__test_simple_text.*newly hidden from the list.*allow\s*shown.*deny\s*no-text/s,
    );
    const changes = page.locator('[data-testid=impact-group][data-rule=fx-images] [data-testid=impact-change]');
    expect(await changes.count()).toBe(2);
    const allowed = changes.filter({ hasText: 'tools/call' });
    expect(await allowed.textContent()).toMatch(/newly allowed.*deny\s*default-deny.*allow\s*fx-images/s);
    expect(await changes.filter({ hasText: 'tools/list' }).textContent()).toMatch(
      /fx__test_image_content.*newly shown in the list.*deny\s*not shown.*allow\s*fx-images/s,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'policy-impact.png'), fullPage: true });

    const id = await allowed.getAttribute('data-id');
    await allowed.getByRole('link').click();
    await page.waitForURL(new RegExp(`#/call/${id}$`));
    await expect
      .poll(() => page.locator('main').textContent(), { timeout: UI_TIMEOUT })
      .toContain('fx__test_image_content');

    // Read-only: the policy file and the decisions in force are what they were.
    expect(readFileSync(warden.policyFile, 'utf8')).toBe(IN_FORCE);
    expect(await ran(agent, 'fx__test_simple_text')).toBe(true);
    expect(await ran(agent, 'fx__test_image_content')).toBe(false);
  });

  it('a bad policy is refused with the path of the problem; the policy in force is unchanged', async () => {
    await page.goto(`${warden.origin}/#/impact`);
    await page.getByTestId('impact-policy').fill('version: 1\ngrants:\n  - { effect: maybe, tools: [x] }\n');
    await page.getByTestId('impact-run').click();
    await expect
      .poll(() => page.getByTestId('error').textContent(), { timeout: UI_TIMEOUT })
      .toMatch(/proposed\.yaml: grants\[0\]\.effect/);
    expect(await page.getByTestId('impact-summary').count()).toBe(0);
  });

  it('the policy in force replayed against its own history changes nothing', async () => {
    await page.goto(`${warden.origin}/#/impact`);
    await page.getByTestId('impact-policy').fill(IN_FORCE);
    await page.getByTestId('impact-run').click();
    await page.getByTestId('impact-none').waitFor();
    expect(await page.getByTestId('impact-summary').locator('dt:text-is("Unchanged") + dd').textContent()).toBe('6');
  });
});
