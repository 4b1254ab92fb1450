// The gold task registry: adding a task is one file under src/gold/tasks/ and one entry here (see docs/gold_tasks.md).
import type { GoldTask } from '../task.js';
import { positiveAfinn } from './positive_afinn.js';
import { positiveVader } from './positive_vader.js';

export class GoldTaskError extends Error {
  override name = 'GoldTaskError';
}

const TASK_LIST = [positiveVader, positiveAfinn] as const satisfies readonly GoldTask[];

/** Names `data.task` accepts, in registry order. */
export const GOLD_TASK_NAMES = TASK_LIST.map((t) => t.name) as readonly string[];

const BY_NAME = new Map<string, GoldTask>(TASK_LIST.map((t) => [t.name, t]));

/** The task of that name; a clear error naming the known tasks otherwise. */
export function goldTask(name: string): GoldTask {
  const task = BY_NAME.get(name);
  if (!task) throw new GoldTaskError(`unknown gold task ${JSON.stringify(name)}; known tasks: ${GOLD_TASK_NAMES.join(', ')}`);
  return task;
}
