import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { renderHtml, scriptSafeJson } from '../../reports/html.ts';
import { writePackage } from '../../reports/package.ts';
import { HOSTILE, sampleDoc } from './fixtures.ts';
import { IN_CI, ROOT, tmpDir } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts');

describe('report.html as text', () => {
  it('is one self-contained file: no external resource, a CSP that forbids them, the data embedded', () => {
    const html = renderHtml(sampleDoc());
    expect(html).not.toMatch(/\b(src|href)=["']?(https?:|\/\/)/i);
    expect(html).not.toMatch(/@import|url\((?!data:)/i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`);
    expect(html).toContain('<script type="application/json" id="vmcts-data">');
  });

  it('escapes the embedded JSON so no message can close the script element', () => {
    const html = renderHtml(sampleDoc());
    const data = html.slice(html.indexOf('id="vmcts-data">'), html.indexOf('</script>', html.indexOf('id="vmcts-data">')));
    expect(data).not.toContain('<');
    expect(JSON.parse(scriptSafeJson({ s: HOSTILE, l: '\u2028' }))).toEqual({ s: HOSTILE, l: '\u2028' });
    expect(html.match(/<\/script>/g)?.length).toBe(2);
  });
});

describe('report.html in headless Chromium', () => {
  let browser: Browser | undefined;
  let page: Page;
  let url: string;
  const doc = sampleDoc();
  const consoleErrors: string[] = [];
  const requests: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      if (IN_CI) throw new Error(`${CHROMIUM} is missing: .ci/run must \`apt-get install -y --no-install-recommends chromium fonts-liberation\``);
      return;
    }
    const dir = tmpDir('html');
    const written = writePackage(dir, doc);
    url = pathToFileURL(written.htmlFile).href;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('data:')) requests.push(r.url());
    });
    await page.goto(url);
    await page.waitForSelector('html[data-ready="true"]', { timeout: 10_000 });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  const need = (skip: (note: string) => never) => {
    if (!browser) skip(`${CHROMIUM} is not installed (apt-get install chromium fonts-liberation); outside CI the browser test is skipped`);
  };
  const visible = (selector: string) => page.locator(selector).evaluateAll((els) => els.filter((e) => !e.classList.contains('hidden')).map((e) => e.getAttribute('data-verdict') ?? e.id));

  it('renders the verdict counts of the document', async (ctx) => {
    need(ctx.skip);
    for (const [v, n] of Object.entries(doc.summary.requirements)) expect(await page.textContent(`#req-cards [data-count="${v}"]`), v).toBe(String(n));
    for (const [v, n] of Object.entries(doc.summary.tests)) expect(await page.textContent(`#test-cards [data-count="${v}"]`), v).toBe(String(n));
    expect(await page.textContent('#req-shown')).toBe(`showing ${doc.requirements.length} of ${doc.requirements.length} requirements`);
    expect(await page.locator('#req-table tbody tr').count()).toBe(doc.requirements.length);
    expect(await page.locator('details.test').count()).toBe(doc.tests.length);
    expect(await page.textContent('#result')).toBe('HARNESS OR CONFIG ERROR');
    expect(await page.textContent('#identity')).toContain('SER-0001');
    expect(await page.locator('#readings tbody tr').count()).toBe(doc.profile.readings.length);
  });

  it('keeps hostile text as text (nothing from the document runs)', async (ctx) => {
    need(ctx.skip);
    expect(await page.evaluate('typeof window.__pwned')).toBe('undefined');
    expect(await page.textContent('#device-line')).toContain('</script><script>window.__pwned=1</script>');
  });

  it('a verdict filter hides the rows of other verdicts, and clicking it again shows them', async (ctx) => {
    need(ctx.skip);
    await page.click('#filters button[data-filter="req-verdict"][data-verdict="FAILED"]');
    const failed = await visible('#req-table tbody tr');
    expect(failed.length).toBe(doc.summary.requirements.FAILED);
    expect(new Set(failed)).toEqual(new Set(['FAILED']));
    await page.click('#filters button[data-filter="req-verdict"][data-verdict="FAILED"]');
    expect((await visible('#req-table tbody tr')).length).toBe(doc.requirements.length);

    await page.click('#test-cards button[data-verdict="TIMEOUT"]');
    expect(await visible('details.test')).toEqual(['TIMEOUT']);
    await page.click('#reset');
    expect((await visible('details.test')).length).toBe(doc.tests.length);
  });

  it('search narrows requirements and tests; level and area filters select theirs', async (ctx) => {
    need(ctx.skip);
    await page.fill('#search', 'mode.fail-one');
    const reqs = await page.locator('#req-table tbody tr:not(.hidden)').evaluateAll((els) => els.map((e) => e.id));
    expect(reqs.sort()).toEqual(doc.tests[1].requirements.map((r) => `req-${r}`).sort());
    expect(await page.locator('details.test:not(.hidden)').evaluateAll((els) => els.map((e) => e.id))).toEqual(['test-mode.fail-one']);
    await page.fill('#search', '');

    await page.selectOption('#area', 'ctx-read');
    const areas = await page.locator('#req-table tbody tr:not(.hidden)').evaluateAll((els) => els.map((e) => e.getAttribute('data-area')));
    expect(new Set(areas)).toEqual(new Set(['ctx-read']));
    expect(areas.length).toBe(doc.requirements.filter((r) => r.area === 'ctx-read').length);
    await page.selectOption('#area', '');
    await page.selectOption('#level', 'SHOULD');
    const levels = await page.locator('#req-table tbody tr:not(.hidden)').evaluateAll((els) => els.map((e) => e.getAttribute('data-level')));
    expect(levels.length).toBe(doc.requirements.filter((r) => r.level === 'SHOULD').length);
    expect(new Set(levels)).toEqual(new Set(['SHOULD']));
    await page.click('#reset');
  });

  it('a requirement links to its tests; a test shows messages, trace and the replay command with a copy button', async (ctx) => {
    need(ctx.skip);
    const req = doc.tests[1].requirements[0];
    await page.click(`#req-${req.replace(/\./g, '\\.')} a[href="#test-mode.fail-one"]`);
    const detail = page.locator('#test-mode\\.fail-one');
    await expect.poll(() => detail.evaluate((e) => e.hasAttribute('open'))).toBe(true);
    expect(await detail.locator('pre.messages').textContent()).toContain('device said OK');
    expect(await detail.locator('pre.trace').textContent()).toContain('DEV_MODE_SET(0x8) member=1');
    expect(await detail.locator('pre.replay-command').textContent()).toBe('vmcts run --seed 7 --test mode.fail-one');
    await detail.locator('button.copy').click();
    await expect.poll(() => detail.locator('button.copy').textContent()).toMatch(/copied|select and copy/);
  });

  it('logged no console error and requested nothing but the file itself; a screenshot is kept', async (ctx) => {
    need(ctx.skip);
    await page.click('#filters button[data-filter="req-verdict"][data-verdict="FAILED"]');
    await page.evaluate('window.scrollTo(0, 0)');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'report.png'), fullPage: true });
    expect(readFileSync(path.join(ARTIFACTS, 'report.png')).subarray(1, 4).toString()).toBe('PNG');
    expect(consoleErrors).toEqual([]);
    expect(requests).toEqual([url]);
  });
});
