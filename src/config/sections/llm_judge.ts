// Config slice for judge.scorer llm-judge: an OpenAI-compatible chat model comparing two responses (URL and key in the judge section).
import { DEFAULT_JUDGE_SYSTEM, DEFAULT_JUDGE_TEMPLATE } from '../../scorers/llm_judge.js';
import { float, int, str } from '../fields.js';

export const llmJudge = {
  model: str('', 'the "model" field sent to /v1/chat/completions; empty leaves it out (servers hosting one model)'),
  template: str(DEFAULT_JUDGE_TEMPLATE, 'user message asking which response is better; {prompt}, {response_a} and {response_b} are filled in'),
  system: str(DEFAULT_JUDGE_SYSTEM, 'system message; empty sends none'),
  maxTokens: int(4, 1, 100_000, 'max_tokens of the verdict (a single letter A or B is read from it)'),
  temperature: float(0, 0, 2, 'sampling temperature of the verdict'),
};
