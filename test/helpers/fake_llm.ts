// A fake OpenAI-compatible /v1/chat/completions server for llm-judge tests: it reads the two responses from the prompt and answers A or B by a rule.
import { startHttpServer, type TestServer } from './http_server.js';

/** Which of two responses the fake judge prefers; 'A' always is a judge with pure position bias. */
export type Rule = (a: string, b: string) => 'A' | 'B';

/** The response with more letters 'a' wins; equal counts go to A. */
export const moreAs: Rule = (a, b) => (count(b, 'a') > count(a, 'a') ? 'B' : 'A');
const count = (s: string, c: string): number => s.split(c).length - 1;

/** Pulls the two responses out of the default template's user message. */
export function responsesOf(user: string): [string, string] {
  const m = /\[Response A\]\n([\s\S]*?)\n\n\[Response B\]\n([\s\S]*?)\n\nReply with/.exec(user);
  if (!m) throw new Error(`the fake judge cannot find the responses in ${JSON.stringify(user.slice(0, 200))}`);
  return [m[1]!, m[2]!];
}

export async function startFakeLlm(rule: Rule = moreAs, port = 0): Promise<TestServer & { rule: Rule }> {
  // The handler reads the rule through `fake`, so a test can change it while the server runs.
  let fake: (TestServer & { rule: Rule }) | undefined;
  const s = await startHttpServer((req) => {
    if (req.path !== '/v1/chat/completions') return { status: 404, json: { error: { message: `no route ${req.path}` } } };
    const body = req.body as { messages?: { role: string; content: string }[] };
    const user = body.messages?.find((m) => m.role === 'user')?.content ?? '';
    const [a, b] = responsesOf(user);
    const verdict = (fake?.rule ?? rule)(a, b);
    return { json: { id: 'cmpl-test', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: verdict }, finish_reason: 'stop' }] } };
  }, port);
  fake = Object.assign(s, { rule });
  return fake;
}
