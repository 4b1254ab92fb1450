// Config slice for corpus, instruction and prompt building.
import { float, int, oneOf } from '../fields.js';

export const data = {
  task: oneOf(['positive-vader', 'positive-afinn'] as const, 'positive-vader', 'prompts + gold scorer that stand in for human preference'),
  validFraction: float(0.05, 0, 0.5, 'share of documents held out for validation'),
  testFraction: float(0.05, 0, 0.5, 'share of documents held out for test'),
  promptWords: int(4, 1, 32, 'words in a sentence-opening prompt'),
  evalPrompts: int(128, 1, 100000, 'held-out prompts for evaluation'),
};
