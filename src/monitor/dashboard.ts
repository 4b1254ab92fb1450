// The dashboard's HTTP server (node:http): the page, a JSON snapshot, Server-Sent Events, /metrics, and uPlot from node_modules.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { MetricsAggregator } from './aggregator.js';
import type { LabelHandler } from './label_routes.js';
import { dashboardPage } from './page.js';
import { PrometheusExporter } from './prometheus.js';
import type { LatestResponses } from './responses_log.js';

export class DashboardError extends Error {
  override name = 'DashboardError';
}

export interface DashboardOptions {
  /** Address to bind; 127.0.0.1 keeps the dashboard off the network unless asked. */
  host: string;
  /** 0 picks a free port; the chosen one is in the returned url. */
  port: number;
  /** Period of the Server-Sent Events pushes (default 1000 ms). */
  pushMs?: number;
  title?: string;
  exporter?: PrometheusExporter;
  /** The latest evaluated responses (GET /api/responses); the page shows them next to the curves. */
  responses?: () => LatestResponses | undefined;
  /** The labelling routes (/label, /api/label...), served when the run waits for people (judge.human). */
  labels?: LabelHandler;
}

export interface DashboardServer {
  url: string;
  /** Open /api/stream connections. */
  clients(): number;
  close(): Promise<void>;
}

/** uPlot's browser build and stylesheet, read from the installed package (no CDN: the page works offline). */
function uplotAssets(): Record<string, { type: string; body: Buffer }> {
  const require = createRequire(import.meta.url);
  let dist: string;
  try {
    dist = join(dirname(require.resolve('uplot/package.json')), 'dist');
  } catch (err) {
    throw new DashboardError(`the dashboard needs the uplot package (npm install uplot): ${(err as Error).message}`);
  }
  return {
    '/assets/uPlot.iife.min.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(join(dist, 'uPlot.iife.min.js')) },
    '/assets/uPlot.min.css': { type: 'text/css; charset=utf-8', body: readFileSync(join(dist, 'uPlot.min.css')) },
  };
}

interface Client {
  res: ServerResponse;
  /** Time of the last series point sent to this client. */
  since: number;
}

export async function serveDashboard(agg: MetricsAggregator, opts: DashboardOptions): Promise<DashboardServer> {
  const assets = uplotAssets();
  const page = Buffer.from(dashboardPage(opts.title));
  const exporter = opts.exporter ?? new PrometheusExporter(agg);
  const clients = new Set<Client>();

  const send = (c: Client, full: boolean): void => {
    const snap = agg.snapshot({ series: full ? 'all' : { since: c.since } });
    const t = snap.series!.t;
    if (t.length > 0) c.since = t.at(-1)!;
    c.res.write(`data: ${JSON.stringify({ ...snap, full })}\n\n`);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (opts.labels && (await opts.labels(req, res, url))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end(`method ${req.method} not allowed; use GET\n`);
      return;
    }
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' }).end(page);
    } else if (path === '/api/state') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' }).end(JSON.stringify(agg.snapshot({ series: 'all' })));
    } else if (path === '/api/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
      res.write('retry: 2000\n\n');
      const c: Client = { res, since: Number.NEGATIVE_INFINITY };
      clients.add(c);
      req.on('close', () => clients.delete(c));
      send(c, true);
    } else if (path === '/api/responses') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' }).end(JSON.stringify(opts.responses?.() ?? null));
    } else if (path === '/metrics') {
      const body = await exporter.metrics();
      res.writeHead(200, { 'Content-Type': exporter.contentType }).end(body);
    } else if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else if (Object.hasOwn(assets, path)) {
      const a = assets[path]!;
      res.writeHead(200, { 'Content-Type': a.type, 'Cache-Control': 'max-age=3600' }).end(a.body);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`no such page ${path}; try /, /api/state, /api/stream, /api/responses or /metrics\n`);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      process.stderr.write(`dashboard: ${req.url} failed: ${(err as Error).stack ?? String(err)}\n`);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`internal error: ${(err as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new DashboardError(`cannot listen on ${opts.host}:${opts.port}: ${err.message}`)));
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}/`;

  const timer = setInterval(() => {
    for (const c of clients) send(c, false);
  }, opts.pushMs ?? 1000);
  timer.unref();

  return {
    url,
    clients: () => clients.size,
    async close() {
      clearInterval(timer);
      for (const c of clients) c.res.end();
      clients.clear();
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

/** Only GET /metrics: for runs that want Prometheus scraping without the dashboard (monitor.metricsPort). */
export async function serveMetricsOnly(exporter: PrometheusExporter, host: string, port: number): Promise<DashboardServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`only /metrics is served here; got ${path}\n`);
      return;
    }
    exporter.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': exporter.contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`internal error: ${(err as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new DashboardError(`cannot listen on ${host}:${port}: ${err.message}`)));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}/metrics`;
  return {
    url,
    clients: () => 0,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
