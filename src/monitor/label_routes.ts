// The dashboard's labelling routes: /label (the page), /api/label/next, /api/label (a choice) and /api/label/stats, behind a token.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkLabeler, LabelError, type Choice, type LabelDesk } from '../streams/labels.js';
import { labelPage } from './label_page.js';

export interface LabelRoutesOptions {
  desk: LabelDesk;
  token: string;
  /** Where the token comes from, for the refusal message. */
  tokenSource: string;
  title?: string;
}

/** Handles a labelling path; returns false for other paths. */
export type LabelHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/** Largest request body taken: a choice is a few hundred bytes. */
const MAX_BODY = 16 * 1024;

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify(body));
};

function given(req: IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice('Bearer '.length);
  return url.searchParams.get('token') ?? undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new LabelError(`request body over ${MAX_BODY} bytes`, 413));
        req.destroy();
      } else parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

interface ChoiceBody {
  name: string;
  groupId: string;
  choice: Choice;
  a: string;
  b: string;
}

function parseChoice(text: string): ChoiceBody {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new LabelError(`the body must be JSON {name, groupId, choice, a, b}; got ${JSON.stringify(text.slice(0, 80))}`, 400);
  }
  const r = o as Record<string, unknown>;
  for (const k of ['name', 'groupId', 'choice', 'a', 'b']) {
    if (typeof r?.[k] !== 'string') throw new LabelError(`the body's ${k} must be a string; got ${JSON.stringify(r?.[k])}`, 400);
  }
  return r as unknown as ChoiceBody;
}

export function labelRoutes(o: LabelRoutesOptions): LabelHandler {
  const expected = Buffer.from(o.token);
  const page = Buffer.from(labelPage(o.title));
  const authorized = (req: IncomingMessage, res: ServerResponse, url: URL): boolean => {
    const t = given(req, url);
    if (t === undefined) {
      res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Bearer' }).end(`labelling needs the token (${o.tokenSource}): open /label?token=<token>&name=<your name>, or send Authorization: Bearer <token>\n`);
      return false;
    }
    const b = Buffer.from(t);
    if (b.length !== expected.length || !timingSafeEqual(b, expected)) {
      res.writeHead(403, { 'Content-Type': 'text/plain' }).end(`the label token does not match the run's (${o.tokenSource})\n`);
      return false;
    }
    return true;
  };
  return async (req, res, url) => {
    const path = url.pathname;
    if (path !== '/label' && path !== '/api/label' && !path.startsWith('/api/label/')) return false;
    if (!authorized(req, res, url)) return true;
    try {
      if (path === '/label' && req.method === 'GET') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(page);
      } else if (path === '/api/label/next' && req.method === 'GET') {
        const name = checkLabeler(url.searchParams.get('name') ?? '');
        json(res, 200, { task: o.desk.next(name) ?? null, stats: o.desk.stats() });
      } else if (path === '/api/label/stats' && req.method === 'GET') {
        json(res, 200, o.desk.stats());
      } else if (path === '/api/label' && req.method === 'POST') {
        const c = parseChoice(await readBody(req));
        const result = o.desk.submit(c.name, c.groupId, c.choice, c.a, c.b);
        json(res, 200, { result });
      } else {
        json(res, 405, { error: `${req.method} ${path} is not served; use GET /label, GET /api/label/next?name=, GET /api/label/stats or POST /api/label` });
      }
    } catch (err) {
      if (!(err instanceof LabelError)) throw err;
      json(res, err.status, { error: err.message });
    }
    return true;
  };
}
