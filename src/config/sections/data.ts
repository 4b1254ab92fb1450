// Config slice for corpus, instruction and prompt building.
import { GOLD_TASK_NAMES } from '../../gold/tasks/index.js';
import { float, int, oneOf, strList } from '../fields.js';

export const data = {
  task: oneOf(GOLD_TASK_NAMES, 'positive-vader', 'gold task: prompt set + scorer that stand in for human preference (src/gold/tasks/)'),
  validFraction: float(0.05, 0, 0.5, 'share of documents held out for validation'),
  testFraction: float(0.05, 0, 0.5, 'share of documents held out for test'),
  promptWords: int(4, 1, 32, 'words in a sentence-opening prompt'),
  evalPrompts: int(128, 1, 100000, 'held-out prompts for evaluation'),
  sources: strList(['sotu', 'moby-dick', 'brown'], 'corpus sources: any of sotu, moby-dick, brown, wordnet (glosses and examples)'),
  maxDocsPerSource: int(0, 0, 1_000_000, 'keep at most this many documents per source (first by file name); 0 = all'),
  instructionMinCount: int(3, 0, 1_000_000, 'a WordNet word gets instruction pairs only if it occurs this often in the training corpus; 0 = every word'),
  instructionShare: float(0.25, 0, 1, 'share of RLHF prompts (train and eval) that are instructions; the rest are sentence openings'),
  trainPrompts: int(50_000, 1, 10_000_000, 'RLHF training prompts kept (a deterministic selection)'),
};
