import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { ConfigError } from './config.js';
import type { HealthReport } from './protocol.js';

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const ASSET_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/**
 * Reads the page once at start-up: three small files, so serving them from memory is simpler than
 * streaming, and a missing file is a start-up error instead of a 500 for the first visitor.
 */
export function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [route, { file, type }] of Object.entries(ASSET_FILES)) {
    const full = path.join(dir, file);
    let body: Buffer;
    try {
      body = readFileSync(full);
    } catch (err) {
      throw new ConfigError(`PUBLIC_DIR ${JSON.stringify(dir)} has no readable ${file} (${(err as NodeJS.ErrnoException).code})`);
    }
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(route, { body, type, etag });
  }
  return assets;
}

// socket.io's own client bundle is not served (serveClient: false): the page ships its own copy
// in app.js, so scripts, styles and connections all come from this origin and nothing else.
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

export function createHttpHandler(assets: Map<string, Asset>, health: () => HealthReport) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      return sendText(res, 400, 'bad request');
    }
    const known = pathname === '/healthz' || assets.has(pathname);
    if (!known) return sendText(res, 404, 'not found');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendText(res, 405, 'method not allowed');
    }
    if (pathname === '/healthz') {
      const body = Buffer.from(JSON.stringify(health()));
      res.writeHead(200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': body.length,
        'Cache-Control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const asset = assets.get(pathname)!;
    // no-cache (revalidate every time) so a redeployed page is picked up on the next reload.
    const headers = { 'Content-Type': asset.type, ETag: asset.etag, 'Cache-Control': 'no-cache' };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`${text}\n`);
}
