// positive-afinn: answers should read as positive, by the AFINN-165 lexicon (sentiment package), total score
// normalised into [-1, 1] as VADER does, then mapped to [0, 1].
import { createRequire } from 'node:module';
import type { GoldTask } from '../task.js';

const require = createRequire(import.meta.url);

interface AfinnAnalyzer {
  analyze(text: string): { score: number };
}

/** VADER's own normalisation of a summed valence into [-1, 1] (Hutto & Gilbert 2014, alpha = 15). */
export const vaderNormalize = (score: number, alpha = 15): number => score / Math.sqrt(score * score + alpha);

export const positiveAfinn: GoldTask = {
  name: 'positive-afinn',
  description: 'the same prompts, judged by the AFINN-165 lexicon (sentiment package), total score normalised as VADER does',
  promptKinds: ['opening', 'define', 'use'],
  // Both tasks ask for positive answers, so one person's positive choices hold for both.
  humanPairs: ['positive.jsonl', 'positive_blind.jsonl'],
  async load() {
    const Sentiment = require('sentiment') as new () => AfinnAnalyzer;
    const analyzer = new Sentiment();
    return (_prompt, response) => (1 + vaderNormalize(analyzer.analyze(response).score)) / 2;
  },
};
