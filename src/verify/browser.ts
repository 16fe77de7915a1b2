import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BrowserContext, Page } from 'playwright-core';
import { PreflightError } from '../util/errors.js';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

export interface BrowserNode {
  name: string;
  url: string;
  /** a window on the load balancer's address: which server accepts its messages is the balancer's choice */
  anyOrigin?: boolean;
}

export interface BrowserReport {
  ok: boolean;
  reason: string;
  /** the node the failure is about, when there is one */
  node?: string;
  exchanges: { from: string; to: string; text: string; ok: boolean }[];
  screenshots: string[];
  durationMs: number;
}

/** The browser labctl drives: LABCTL_CHROMIUM, else Debian's. Missing → exit 2 with how to install it. */
export function chromiumPath(): string {
  const exe = process.env.LABCTL_CHROMIUM ?? DEFAULT_CHROMIUM;
  if (!existsSync(exe)) {
    throw new PreflightError(`Chromium is not installed (${exe}): apt-get install chromium — labctl drives it with playwright-core and downloads no browser`);
  }
  return exe;
}

/** Flags that keep Chromium off every network but the lab's. */
function chromiumArgs(): string[] {
  return [
    ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-default-apps',
    '--disable-extensions',
    '--disable-domain-reliability',
    '--disable-quic',
    '--disable-gpu',
    '--metrics-recording-only',
  ];
}

/**
 * The seed's last step, done for real: one browser window per web node; a message typed
 * in one must appear in the other with its sender and server, both ways, and a message
 * of HTML markup must arrive as the same text and create no element.
 */
export async function browserCheck(nodes: BrowserNode[], screenshotDir: string, timeoutMs = 8000): Promise<BrowserReport> {
  const started = Date.now();
  const executablePath = chromiumPath();
  const profile = mkdtempSync(path.join(os.tmpdir(), 'labctl-chromium-'));
  const report: BrowserReport = { ok: false, reason: '', exchanges: [], screenshots: [], durationMs: 0 };
  let context: BrowserContext | undefined;
  const pages = new Map<string, Page>();
  const fail = (reason: string, node?: string) => {
    report.ok = false;
    report.reason = reason;
    report.node = node;
    return report;
  };
  try {
    // loaded here, not at start-up: playwright-core is large and only this check needs it
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: chromiumArgs(),
      viewport: { width: 1100, height: 760 },
    });
    const allowed = nodes.map((n) => new URL(n.url).origin);
    // nothing leaves for anywhere but the lab's own web nodes
    await context.route('**/*', (route) => (allowed.includes(new URL(route.request().url()).origin) ? route.continue() : route.abort()));
    const tag = randomBytes(3).toString('hex');

    for (const n of nodes) {
      const page = await context.newPage();
      pages.set(n.name, page);
      try {
        await page.goto(n.url, { timeout: timeoutMs, waitUntil: 'domcontentloaded' });
        await page.fill('#name-input', `${n.name}-user-${tag}`);
        await page.click('#join-button');
        await page.locator('#connection-state', { hasText: /^connected$/ }).waitFor({ timeout: timeoutMs });
        await page.locator('#chat-view').waitFor({ state: 'visible', timeout: timeoutMs });
      } catch (err) {
        return fail(`${n.name}: the chat page did not load and connect at ${n.url}: ${firstLine(err)}`, n.name);
      }
    }

    const send = async (from: BrowserNode, text: string) => {
      const page = pages.get(from.name)!;
      await page.fill('#message-input', text);
      await page.click('#send-button');
    };
    const shows = async (on: BrowserNode, from: BrowserNode, text: string): Promise<boolean> => {
      const page = pages.get(on.name)!;
      const origin = from.anyOrigin ? '' : `[data-origin="${from.name}"]`;
      const item = page.locator(`#messages .message${origin}[data-sender="${from.name}-user-${tag}"]`).filter({
        has: page.locator('.message-text', { hasText: text }),
      });
      try {
        await item.first().waitFor({ timeout: timeoutMs });
        return (await item.first().locator('.message-text').textContent()) === text;
      } catch {
        return false;
      }
    };

    const plan: [BrowserNode, BrowserNode, string][] = [];
    for (const a of nodes) for (const b of nodes) if (a !== b) plan.push([a, b, `hello from ${a.name} to ${b.name} (${tag})`]);
    const html = `<b id="labctl-probe-${tag}">bold?</b><img src="x" onerror="window.__labctlProbe=1">`;
    plan.push([nodes[0]!, nodes[nodes.length - 1]!, html]);

    for (const [from, to, text] of plan) {
      await send(from, text);
      const ok = await shows(to, from, text);
      report.exchanges.push({ from: from.name, to: to.name, text, ok });
      if (!ok) return fail(`${to.name} did not show the message sent from ${from.name}'s page within ${timeoutMs} ms`, to.name);
    }
    for (const [name, page] of pages) {
      const injected = await page.evaluate(
        (id) => Boolean(document.getElementById(id)) || (window as unknown as { __labctlProbe?: number }).__labctlProbe === 1,
        `labctl-probe-${tag}`,
      );
      if (injected) return fail(`${name}: the HTML message created an element or ran script: the page must render messages as text`, name);
    }
    report.ok = true;
    report.reason = `${report.exchanges.length} messages typed in one window appeared in the other with sender and server; HTML arrived as text`;
    return report;
  } catch (err) {
    return fail(`the browser check broke: ${firstLine(err)}`);
  } finally {
    mkdirSync(screenshotDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (const [name, page] of pages) {
      try {
        const file = path.join(screenshotDir, `${name}-${stamp}.png`);
        await page.screenshot({ path: file, fullPage: false });
        report.screenshots.push(file);
      } catch {
        /* a page that failed to load may not render */
      }
    }
    const last = [...pages.values()].pop();
    if (last) {
      try {
        await last.setViewportSize({ width: 390, height: 760 });
        const file = path.join(screenshotDir, `${[...pages.keys()].pop()}-phone-${stamp}.png`);
        await last.screenshot({ path: file });
        report.screenshots.push(file);
      } catch {
        /* optional */
      }
    }
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    report.durationMs = Date.now() - started;
  }
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!;
}
