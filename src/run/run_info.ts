// The run-info record: what a client in another language needs to join a run, read from the bus alone.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CHECKPOINT_FILES } from '../checkpoint/checkpoint.js';
import { loadTokenizer } from './artifacts.js';
import type { Config } from '../config/index.js';
import { GENERATOR_DURABLE, generatorsMaxAckPending } from '../actors/generator.js';
import { JUDGE_DURABLE, judgesMaxAckPending } from '../actors/judge.js';
import { LEARNER_DURABLE, learnerMaxAckPending } from '../actors/learner.js';
import { MAX_METRIC_MAGNITUDE, DEFAULT_SCHEMA_LIMITS } from '../streams/schemas.js';
import { SCHEMA_VERSION } from '../streams/topics.js';
import type { SpecialIds } from '../data/tokenizer.js';

/** Control KV keys (JSON values): the record, and the tokenizer.json bytes it points to. */
export const KEY_INFO = 'info';
export const KEY_TOKENIZER = 'tokenizer';

/** Longest string field other than texts (ids, names), in UTF-16 code units; schemas.ts. */
export const MAX_ID_CHARS = 256;

export interface ConsumerInfo {
  durable: string;
  maxAckPending: number;
  ackWaitMs: number;
  maxDeliver: number;
}

export interface RunInfo {
  /** This record's layout version. */
  v: 1;
  runId: string;
  prefix: string;
  /** Payload schema version (`v` in every message). */
  schemaVersion: number;
  vocabSize: number;
  specialIds: SpecialIds;
  /** tokenizer.json: its bytes are in control key `tokenizer`; `file` is where the launcher read it (same host only). */
  tokenizer: { key: string; file: string; sha256: string; size: number };
  /** Durable consumer names a client must use to share a role's work. */
  durables: { prompts: string; samples: string; pairs: string };
  /**
   * The settings the TypeScript actors give each work topic's durable when they create or update it (the server's
   * max_deliver is bus.maxDeliver + 1: the extra delivery arrives only to be dead-lettered).
   */
  consumers: Record<'prompts' | 'samples' | 'pairs', ConsumerInfo>;
  samplesPerPrompt: number;
  maxPolicyLag: number;
  stalePairs: 'drop' | 'downweight';
  bus: { replicas: number; maxPending: number; retainMessages: number; duplicateWindowMs: number; ackWaitMs: number; maxDeliver: number };
  /** What consumers accept; a message beyond any of these is dead-lettered. */
  limits: {
    maxPayloadBytes: number;
    maxTokens: number;
    maxSamples: number;
    maxTextChars: number;
    maxIdChars: number;
    maxMetricValues: number;
    maxMetricMagnitude: number;
  };
  createdAt: number;
}

export function runInfo(cfg: Config, runId: string, tok: { vocabSize: number; special: SpecialIds; json: string; file: string }): RunInfo {
  const bytes = Buffer.from(tok.json, 'utf8');
  const consumer = (durable: string, maxAckPending: number): ConsumerInfo => ({ durable, maxAckPending, ackWaitMs: cfg.bus.ackWaitMs, maxDeliver: cfg.bus.maxDeliver + 1 });
  return {
    v: 1,
    runId,
    prefix: cfg.bus.prefix,
    schemaVersion: SCHEMA_VERSION,
    vocabSize: tok.vocabSize,
    specialIds: { ...tok.special },
    tokenizer: { key: KEY_TOKENIZER, file: tok.file, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length },
    durables: { prompts: GENERATOR_DURABLE, samples: JUDGE_DURABLE, pairs: LEARNER_DURABLE },
    samplesPerPrompt: cfg.generator.samplesPerPrompt,
    maxPolicyLag: cfg.learner.maxPolicyLag,
    stalePairs: cfg.learner.stalePairs,
    bus: {
      replicas: cfg.bus.replicas,
      maxPending: cfg.bus.maxPending,
      retainMessages: cfg.bus.retainMessages,
      duplicateWindowMs: cfg.bus.duplicateWindowMs,
      ackWaitMs: cfg.bus.ackWaitMs,
      maxDeliver: cfg.bus.maxDeliver,
    },
    consumers: {
      prompts: consumer(GENERATOR_DURABLE, generatorsMaxAckPending(cfg.generator)),
      samples: consumer(JUDGE_DURABLE, judgesMaxAckPending(cfg.judge, cfg.generator.samplesPerPrompt)),
      pairs: consumer(LEARNER_DURABLE, learnerMaxAckPending(cfg.learner)),
    },
    limits: {
      maxPayloadBytes: cfg.bus.maxPayloadBytes,
      maxTokens: DEFAULT_SCHEMA_LIMITS.maxTokens,
      maxSamples: DEFAULT_SCHEMA_LIMITS.maxSamples,
      maxTextChars: DEFAULT_SCHEMA_LIMITS.maxTextChars,
      maxIdChars: MAX_ID_CHARS,
      maxMetricValues: DEFAULT_SCHEMA_LIMITS.maxMetricValues,
      maxMetricMagnitude: MAX_METRIC_MAGNITUDE,
    },
    createdAt: Date.now(),
  };
}

/** Builds the record from the run's config and its SFT checkpoint's tokenizer, and writes it to the control bucket. */
export async function publishRunInfo(control: { setInfo(info: RunInfo, tokenizerJson: string): Promise<void> }, cfg: Config, runId: string, sftDir: string): Promise<RunInfo> {
  const tokFile = resolve(sftDir, CHECKPOINT_FILES.tokenizer);
  const tokJson = readFileSync(tokFile, 'utf8');
  const tok = loadTokenizer({ sftDir });
  const info = runInfo(cfg, runId, { vocabSize: tok.vocabSize, special: tok.special, json: tokJson, file: tokFile });
  await control.setInfo(info, tokJson);
  return info;
}
