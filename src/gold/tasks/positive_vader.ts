// positive-vader: answers should read as positive, by the VADER compound score (vader-sentiment), mapped to [0, 1].
import { createRequire } from 'node:module';
import type { GoldTask } from '../task.js';

const require = createRequire(import.meta.url);

interface VaderModule {
  SentimentIntensityAnalyzer: { polarity_scores(text: string): { compound: number } };
}

export const positiveVader: GoldTask = {
  name: 'positive-vader',
  description: 'continue openings and answer instructions with positive sentiment, judged by VADER compound (vader-sentiment)',
  promptKinds: ['opening', 'define', 'use'],
  // Both tasks ask for positive answers, so one person's positive choices hold for both.
  humanPairs: ['positive.jsonl', 'positive_blind.jsonl'],
  async load() {
    const vader = require('vader-sentiment') as VaderModule;
    return (_prompt, response) => (1 + vader.SentimentIntensityAnalyzer.polarity_scores(response).compound) / 2;
  },
};
