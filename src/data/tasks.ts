// The task table: which prompts a run uses and which third-party sentiment scorer the gold judge builds on.
import { createRequire } from 'node:module';
import type { Config } from '../config/index.js';

const require = createRequire(import.meta.url);

export type TaskName = Config['data']['task'];
export type PromptKind = 'opening' | 'define' | 'use';

/** Maps a response to a sentiment in [-1, 1] (positive = preferred by the task). */
export type SentimentScorer = (text: string) => number;

export interface Task {
  description: string;
  /** Prompt kinds the task draws from. */
  promptKinds: readonly PromptKind[];
  /** Loads the scorer once (lexicons are read from disk). */
  loadSentiment(): Promise<SentimentScorer>;
}

interface VaderModule {
  SentimentIntensityAnalyzer: { polarity_scores(text: string): { neg: number; neu: number; pos: number; compound: number } };
}
interface AfinnAnalyzer {
  analyze(text: string): { score: number; comparative: number };
}

/** VADER's own normalisation of a summed valence into [-1, 1] (Hutto & Gilbert 2014, alpha = 15). */
export const vaderNormalize = (score: number, alpha = 15): number => score / Math.sqrt(score * score + alpha);

/** Adding a task is one entry here (and its name in the data.task config field). */
export const TASKS = {
  'positive-vader': {
    description: 'continue openings and answer instructions with positive sentiment, judged by VADER compound (vader-sentiment)',
    promptKinds: ['opening', 'define', 'use'],
    async loadSentiment() {
      const vader = require('vader-sentiment') as VaderModule;
      return (text) => vader.SentimentIntensityAnalyzer.polarity_scores(text).compound;
    },
  },
  'positive-afinn': {
    description: 'the same prompts, judged by the AFINN-165 lexicon (sentiment package), total score normalised as VADER does',
    promptKinds: ['opening', 'define', 'use'],
    async loadSentiment() {
      const Sentiment = require('sentiment') as new () => AfinnAnalyzer;
      const analyzer = new Sentiment();
      return (text) => vaderNormalize(analyzer.analyze(text).score);
    },
  },
} satisfies Record<TaskName, Task>;
