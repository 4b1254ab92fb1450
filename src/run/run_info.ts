// The run-info record: what a client in another language needs to join a run, read from the bus alone.
import { createHash } from 'node:crypto';
import type { Config } from '../config/index.js';
import { GENERATOR_DURABLE } from '../actors/generator.js';
import { JUDGE_DURABLE } from '../actors/judge.js';
import { LEARNER_DURABLE } from '../actors/learner.js';
import { MAX_METRIC_MAGNITUDE, DEFAULT_SCHEMA_LIMITS } from '../streams/schemas.js';
import { SCHEMA_VERSION } from '../streams/topics.js';
import type { SpecialIds } from '../data/tokenizer.js';

/** Control KV keys (JSON values): the record, and the tokenizer.json bytes it points to. */
export const KEY_INFO = 'info';
export const KEY_TOKENIZER = 'tokenizer';

/** Longest string field other than texts (ids, names), in UTF-16 code units; schemas.ts. */
export const MAX_ID_CHARS = 256;

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
  samplesPerPrompt: number;
  maxPolicyLag: number;
  stalePairs: 'drop' | 'downweight';
  bus: { replicas: number; maxPending: number; retainMessages: number; duplicateWindowMs: number; ackWaitMs: number; maxDeliver: number; maxAckPending: number };
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
      maxAckPending: cfg.bus.maxAckPending,
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
