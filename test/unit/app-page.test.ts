/**
 * The chat page in a real browser (Debian's chromium through playwright-core), one window per
 * server, against the real bundle and a real Redis. Uses the same hooks as labctl's browser check.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { MAX_TEXT_LENGTH } from '../../src/app/protocol.js';
import { AppProcess, buildBundle, Harness, uniqueText } from '../helpers/app-harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('chat page in a browser', () => {
  // the suite needs the browser: without it this fails (scripts/install-system-deps.sh installs it)
  before(() => assert.ok(existsSync(CHROMIUM), `no browser at ${CHROMIUM}: apt-get install chromium`));
  const h = new Harness();
  let browser: Browser;
  let web1: AppProcess;
  let web2: AppProcess;
  let alice: Page;
  let bob: Page;
  const problems: string[] = [];

  async function open(app: AppProcess, viewport: { width: number; height: number }): Promise<Page> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.setDefaultTimeout(5000);
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`${app.node}: console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${app.node}: page error: ${e.message}`));
    await page.goto(`${app.url}/`);
    return page;
  }

  async function join(page: Page, name: string, node: string): Promise<void> {
    await page.locator('#server-name').filter({ hasText: node }).waitFor();
    await page.fill('#name-input', name);
    await page.click('#join-button');
    await page.locator('#message-input').waitFor({ state: 'visible' });
  }

  async function send(page: Page, text: string): Promise<void> {
    await page.fill('#message-input', text);
    await page.press('#message-input', 'Enter');
  }

  const message = (page: Page, text: string) =>
    page.locator('#messages > .message').filter({ has: page.locator('.message-text', { hasText: text }) });

  before(async () => {
    await buildBundle();
    const redis = await h.startRedis();
    [web1, web2] = await Promise.all([
      h.startApp({ NODE_NAME: 'web1', ...h.redisEnv(redis) }),
      h.startApp({ NODE_NAME: 'web2', ...h.redisEnv(redis) }),
    ]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 15_000 });
    [alice, bob] = await Promise.all([open(web1, { width: 1280, height: 800 }), open(web2, { width: 375, height: 740 })]);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await h.cleanup();
  });

  it('joins on each server and shows messages from both, own ones marked', async () => {
    await join(alice, 'Alice', 'web1');
    await join(bob, 'Bob', 'web2');
    for (const page of [alice, bob]) assert.equal(await page.textContent('#connection-state'), 'connected');

    const hello = uniqueText('hello from Alice');
    await send(alice, hello);
    const onBob = message(bob, hello);
    await onBob.waitFor();
    assert.equal(await onBob.getAttribute('data-own'), 'false');
    assert.equal(await onBob.getAttribute('data-origin'), 'web1');
    assert.equal(await onBob.getAttribute('data-sender'), 'Alice');
    assert.equal(await onBob.locator('.message-sender').textContent(), 'Alice');
    assert.equal(await onBob.locator('.message-origin').textContent(), 'via web1');
    const onAlice = message(alice, hello);
    await onAlice.waitFor();
    assert.equal(await onAlice.getAttribute('data-own'), 'true');
    assert.equal(await alice.inputValue('#message-input'), '', 'the box is cleared after sending');

    const reply = uniqueText('reply from Bob');
    await bob.fill('#message-input', reply);
    await bob.click('#send-button');
    await message(alice, reply).waitFor();
    assert.equal(await message(alice, reply).getAttribute('data-own'), 'false');
    assert.equal(await message(bob, reply).getAttribute('data-own'), 'true');
    assert.equal(await alice.locator('#messages > .message').count(), 2);
  });

  it('shows an HTML payload as text and runs nothing', async () => {
    const payload = '<img src=x onerror="window.__pwned=1">';
    await send(alice, payload);
    const shown = message(bob, 'onerror');
    await shown.waitFor();
    assert.equal(await shown.locator('.message-text').textContent(), payload);
    for (const page of [alice, bob]) {
      assert.equal(await page.locator('#messages img').count(), 0);
      assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
    }
  });

  it('shows the refusal of an over-long message in #notice and sends it to nobody', async () => {
    const long = `${uniqueText('too long')} `.padEnd(MAX_TEXT_LENGTH + 1, 'z');
    // maxlength stops typing past the limit; a script (or an old browser) can still set the value.
    await alice.$eval('#message-input', (input, text) => ((input as HTMLInputElement).value = text), long);
    await alice.press('#message-input', 'Enter');
    await alice.locator('#notice').filter({ hasText: String(MAX_TEXT_LENGTH) }).waitFor();
    assert.equal(await alice.inputValue('#message-input'), long, 'the refused text is given back');
    const marker = uniqueText('after the refusal');
    await send(alice, marker);
    await message(bob, marker).waitFor();
    assert.equal(await message(bob, 'too long').count(), 0);
    // alice's page clears the notice when its own ack arrives; bob's page may show the message first
    await alice.waitForFunction(() => document.getElementById('notice')?.textContent === '', undefined, { timeout: 3000 }).catch(() => {});
    assert.equal(await alice.textContent('#notice'), '', 'a sent message clears the notice');
  });

  it('fits a 375 px wide screen without sideways scrolling', async () => {
    const width = await bob.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `page is ${width} px wide`);
    const box = await bob.locator('#send-button').boundingBox();
    assert.ok(box && box.x + box.width <= 375 && box.y + box.height <= 740, 'the send button is on screen');
    for (const id of ['#name-input', '#message-input']) {
      assert.equal(await bob.locator(`label[for="${id.slice(1)}"]`).count(), 1, `${id} has a label`);
    }
  });

  it('logged no console errors (CSP, scripts) so far', () => {
    assert.deepEqual(problems, []);
  });

  it('shows reconnecting while its server is down, then rejoins by itself', async () => {
    assert.deepEqual(await web2.stop('SIGTERM'), { code: 0, signal: null });
    await bob.locator('#connection-state', { hasText: 'reconnecting' }).waitFor();
    const restarted = h.spawnApp(web2.env);
    await restarted.waitForOutput('listening on', 5000, 'restarted web2');
    await bob.locator('#connection-state', { hasText: /^connected$/ }).waitFor({ timeout: 10_000 });
    const back = uniqueText('Bob is back');
    await send(bob, back);
    await message(alice, back).waitFor();
    assert.equal(await message(alice, back).getAttribute('data-origin'), 'web2');
    assert.equal(await message(bob, back).getAttribute('data-own'), 'true');
  });
});
