// A real node:http server on 127.0.0.1 for scorer tests: JSON in, a handler's answer out; it can go down and come back on its port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** Returns the reply (status, JSON or raw text, headers), or handles `res` itself and returns undefined. */
export type Handler = (req: Received, res: ServerResponse) => { status?: number; json?: unknown; text?: string; headers?: Record<string, string> } | undefined | Promise<{ status?: number; json?: unknown; text?: string; headers?: Record<string, string> } | undefined>;

export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly received: Received[];
  handler: Handler;
  /** Closes the listener and drops open connections: the service is down. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startHttpServer(handler: Handler, port = 0): Promise<TestServer> {
  let server: Server | undefined;
  const received: Received[] = [];
  const self = {
    url: '',
    port,
    received,
    handler,
    async down() {
      if (!server) return;
      const s = server;
      server = undefined;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
    async up() {
      const s = createServer((req, res) => {
        let raw = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (raw += c));
        req.on('end', () => {
          let body: unknown = raw;
          try {
            body = JSON.parse(raw);
          } catch {
            // Kept as text: the test sees what arrived.
          }
          const r: Received = { path: req.url ?? '', headers: req.headers, body };
          received.push(r);
          Promise.resolve(self.handler(r, res)).then(
            (out) => {
              if (!out) return;
              res.writeHead(out.status ?? 200, { 'content-type': 'application/json', ...out.headers });
              res.end(out.text ?? JSON.stringify(out.json ?? {}));
            },
            (err: Error) => {
              res.writeHead(500);
              res.end(err.message);
            },
          );
        });
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(self.port, '127.0.0.1', () => resolve());
      });
      server = s;
      self.port = (s.address() as AddressInfo).port;
      self.url = `http://127.0.0.1:${self.port}`;
    },
    async close() {
      await self.down();
    },
  };
  await self.up();
  return self;
}
