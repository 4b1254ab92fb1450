// What a person's labels are on the way from the labelling page to the judge and to disk: choices, tasks, records,
// and the desk the page talks to. Below actors, monitor and train, which all read them (the desk itself is actors/human_desk.ts).

export class LabelError extends Error {
  override name = 'LabelError';
  constructor(
    message: string,
    /** The HTTP status the page answers with. */
    readonly status: number,
  ) {
    super(message);
  }
}

/** What a person may answer: the first response, the second, a tie (no pair), or skip (someone else, or the fallback, decides). */
export const CHOICES = ['a', 'b', 'tie', 'skip'] as const;
export type Choice = (typeof CHOICES)[number];

/** One group shown to a person: its prompt and two of its responses. */
export interface LabelTask {
  groupId: string;
  promptId: string;
  prompt: string;
  a: { sampleId: string; text: string };
  b: { sampleId: string; text: string };
  /** How long the group has waited, ms. */
  waitedMs: number;
}

/** A person's answer for a group, as the judge receives it. */
export interface HumanLabel {
  groupId: string;
  labeler: string;
  choice: 'a' | 'b' | 'tie';
  /** Indices in the group's samples of the two responses shown. */
  a: number;
  b: number;
}

/** The durable record of every label, in time or late: joined to its samples by id. */
export interface LabelRecord {
  ts: number;
  runId: string;
  groupId: string;
  promptId: string;
  judgeId: string;
  choice: 'a' | 'b' | 'tie';
  aSampleId: string;
  bSampleId: string;
  /** Absent for a tie. */
  chosenSampleId?: string;
  rejectedSampleId?: string;
  /** True when the group had already been judged by the scorer: the label is kept, but no pair is made of it. */
  late: boolean;
  /** Whether the scorer's scores rank the two responses the way the person did (absent for a tie or equal scores). */
  proxyAgrees?: boolean;
  /** The prompt and the two responses themselves: a late label's samples are in no pair, and a refit needs the tokens. */
  prompt: string;
  promptTokens: number[];
  a: LabelledResponse;
  b: LabelledResponse;
}

export interface LabelledResponse {
  text: string;
  tokens: number[];
  finished: boolean;
}

export interface DeskStats {
  waiting: number;
  /** Labels that made pairs or ties (in time), and late ones. */
  labelled: number;
  ties: number;
  late: number;
  /** Groups that waited and were then judged by the scorer. */
  fallbacks: number;
  /** Labels (in time or late, not ties) where the scorer's order could be compared, and where it agreed. */
  compared: number;
  agreed: number;
}

/** A labeler name: it becomes the judge id human:<name>, which the pair schema bounds like any id. */
const LABELER = /^[A-Za-z0-9_.-]{1,64}$/;

export function checkLabeler(name: string): string {
  if (!LABELER.test(name)) throw new LabelError(`labeler name must match ${LABELER} (it becomes the judge id human:<name>); got ${JSON.stringify(name)}`, 400);
  return name;
}

export function humanJudgeId(labeler: string): string {
  return `human:${labeler}`;
}

/** What the labelling page asks of the desk where groups wait for a person. */
export interface LabelDesk {
  /** The next group this labeler has not skipped, or undefined when none waits. */
  next(labeler: string): LabelTask | undefined;
  /** Takes a choice for a group shown with these two samples. */
  submit(labeler: string, groupId: string, choice: Choice, aSampleId: string, bSampleId: string): 'accepted' | 'late' | 'skipped';
  stats(): DeskStats;
}
