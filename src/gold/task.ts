// What a gold task is: one scorer of a response in [0, 1] (1 = what the task wants) and the prompt set it is asked on.
import type { PromptKind } from '../data/prompts.js';

/** Scores one answer for the task, in [0, 1]; the judge multiplies it by fluency. */
export type TaskScorer = (prompt: string, response: string) => number;

export interface GoldTask {
  /** The name `data.task` selects it by. */
  name: string;
  description: string;
  /** Prompt kinds the task draws its train and eval prompts from (see data/prompts.ts). */
  promptKinds: readonly PromptKind[];
  /**
   * Files of a person's choices between two answers to the task's prompts (src/gold/tasks/human_prefs/), the judge's
   * agreement with which is tested and reported.
   */
  humanPairs: readonly string[];
  /** Loads the scorer once (lexicons are read from disk). */
  load(): Promise<TaskScorer>;
}
