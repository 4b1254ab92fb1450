// llm-judge: an OpenAI-compatible /v1/chat/completions model asked which of two responses is better, in both orders.
import type { HttpClient, HttpStats } from './http_client.js';
import { safeUrl } from './http_client.js';
import { bothOrders } from './tournament.js';
import { excerpt, type PairwiseScorer } from './scorer.js';

export interface LlmJudgeOptions {
  /** The server's base URL (`http://host:8000` or `.../v1`) or the full `/chat/completions` URL. */
  url: string;
  model: string;
  /** The user message; `{prompt}`, `{response_a}` and `{response_b}` are filled in. */
  template: string;
  system: string;
  maxTokens: number;
  temperature: number;
}

export const DEFAULT_JUDGE_SYSTEM = 'You are a careful, impartial judge of answer quality.';

export const DEFAULT_JUDGE_TEMPLATE = [
  'Which response answers the instruction better? Consider helpfulness, correctness and clarity; ignore length and order.',
  '',
  '[Instruction]',
  '{prompt}',
  '',
  '[Response A]',
  '{response_a}',
  '',
  '[Response B]',
  '{response_b}',
  '',
  'Reply with a single letter: A or B.',
].join('\n');

const PLACEHOLDERS = ['{prompt}', '{response_a}', '{response_b}'] as const;

/** Checks a template names all three placeholders; returns a reason when it does not. */
export function templateProblem(template: string): string | undefined {
  const missing = PLACEHOLDERS.filter((p) => !template.includes(p));
  return missing.length > 0 ? `the template must contain ${PLACEHOLDERS.join(', ')}; missing ${missing.join(', ')}` : undefined;
}

export function fillTemplate(template: string, prompt: string, a: string, b: string): string {
  // One pass, so a response containing "{response_b}" is not itself filled in.
  return template.replace(/\{(prompt|response_a|response_b)\}/g, (_, k: string) => (k === 'prompt' ? prompt : k === 'response_a' ? a : b));
}

/** The chat-completions URL for a base URL, a `/v1` URL or a full endpoint URL. */
export function chatCompletionsUrl(url: string): string {
  const u = url.replace(/\/+$/, '');
  if (u.endsWith('/chat/completions')) return u;
  return u.endsWith('/v1') ? `${u}/chat/completions` : `${u}/v1/chat/completions`;
}

/** 'A' or 'B' from a reply's text: the first standalone letter, after an optional "Response"/"Answer:" lead. */
export function verdictOf(text: string): 'A' | 'B' {
  const m = /(?:^|[^A-Za-z])(A|B)(?![A-Za-z])/.exec(text.trim());
  if (!m) throw new Error(`no verdict (A or B) in the judge's reply ${JSON.stringify(excerpt(text, 120))}`);
  return m[1] as 'A' | 'B';
}

/** The message text of a chat-completions reply. */
export function replyText(json: unknown): string {
  const choices = (json as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices) || choices.length === 0) throw new Error('expected "choices" with at least one entry');
  const content = (choices[0] as { message?: { content?: unknown } } | null)?.message?.content;
  if (typeof content !== 'string') throw new Error('expected choices[0].message.content to be a string');
  return content;
}

export class LlmJudgeScorer implements PairwiseScorer {
  readonly kind = 'pairwise';
  /** Both orders are asked here, so the tournament asks once per match. */
  readonly symmetric = true;
  readonly id: string;
  private readonly endpoint: string;

  constructor(
    private readonly client: HttpClient,
    private readonly o: LlmJudgeOptions,
  ) {
    const why = templateProblem(o.template);
    if (why) throw new RangeError(`llmJudge.template: ${why}`);
    this.endpoint = chatCompletionsUrl(o.url);
    this.id = `llm-judge:${o.model || 'default'}@${safeUrl(this.endpoint)}`;
  }

  get httpStats(): Readonly<HttpStats> {
    return this.client.stats;
  }

  /** 1 when `a` wins in both orders, 0 when `b` does; a disagreement (position bias) is 1/2, a tie. */
  async compare(prompt: string, a: string, b: string): Promise<number> {
    const [ab, ba] = await Promise.all([this.ask(prompt, a, b), this.ask(prompt, b, a)]);
    return bothOrders(ab === 'A' ? 1 : 0, ba === 'A' ? 1 : 0);
  }

  private ask(prompt: string, first: string, second: string): Promise<'A' | 'B'> {
    const messages = [
      ...(this.o.system ? [{ role: 'system', content: this.o.system }] : []),
      { role: 'user', content: fillTemplate(this.o.template, prompt, first, second) },
    ];
    const body = { ...(this.o.model ? { model: this.o.model } : {}), messages, max_tokens: this.o.maxTokens, temperature: this.o.temperature };
    return this.client.postJson(this.endpoint, body, (json) => verdictOf(replyText(json)));
  }

  async close(): Promise<void> {}
}
