// Tiny in-memory fixtures for the training tests: a small BPE tokenizer, a tiny model config, a config in a temp folder.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from '../../src/config/index.js';
import type { DataArtifacts } from '../../src/data/build.js';
import { loadCorpus, sentencesOf } from '../../src/data/corpus.js';
import { createGoldJudge } from '../../src/gold/index.js';
import { formatPrompt } from '../../src/data/template.js';
import { BpeTokenizer } from '../../src/data/tokenizer.js';
import { Rng } from '../../src/kernels/rng.js';
import type { PreferencePair } from '../../src/train/preference_data.js';
import type { GptConfig } from '../../src/kernels/gpt.js';

export const SENTENCES = [
  'The ship sailed out of the harbour at dawn.',
  'A good friend is a great gift in hard times.',
  'The whale rose from the deep and blew.',
  'Our nation grows stronger when we work together.',
  'The captain looked at the sea for a long time.',
  'We must build roads, schools and hospitals for all.',
  'The old sailor told a story about the storm.',
  'Peace and freedom are worth every effort we make.',
];

export const INSTRUCTIONS = [
  { prompt: 'Define ship.', response: 'A vessel that carries people or goods by sea.' },
  { prompt: 'Define whale.', response: 'A very large sea mammal that breathes air.' },
  { prompt: 'Use harbour in a sentence.', response: 'The boats rested in the quiet harbour.' },
  { prompt: 'Define storm.', response: 'A violent weather condition with strong winds.' },
  { prompt: 'Use freedom in a sentence.', response: 'They fought for the freedom of their people.' },
  { prompt: 'Define captain.', response: 'The person in command of a ship.' },
];

export async function tinyTokenizer(texts: string[] = [...SENTENCES, ...INSTRUCTIONS.flatMap((p) => [p.prompt, p.response])], vocab = 360): Promise<BpeTokenizer> {
  return BpeTokenizer.train(texts, vocab);
}

export function tinyGpt(vocabSize: number, contextLength = 48): GptConfig {
  return { vocabSize, contextLength, layers: 2, dModel: 32, heads: 4, dropout: 0, positional: 'learned' };
}

/** A config for a tiny run whose cache lives in a fresh temp folder. */
export function tinyConfig(overrides: Record<string, Record<string, unknown>> = {}): Config {
  const cacheDir = mkdtempSync(join(tmpdir(), 'rlhf-train-test-'));
  return parseConfig({
    compute: { backend: 'wasm', seed: 3 },
    model: { layers: 2, dModel: 32, heads: 4, contextLength: 48 },
    run: { cacheDir },
    ...overrides,
  });
}

/**
 * Real corpus sentences scored by the real gold judge, split by sentence into a train and a held-out pool, and
 * pairs within each pool whose gold scores differ clearly, labelled by gold: an easy but genuine preference task.
 */
export async function goldSentencePairs(nTrain: number, nHeldOut: number, docs = 12): Promise<{
  tokenizer: BpeTokenizer;
  train: PreferencePair[];
  heldOut: PreferencePair[];
}> {
  const corpus = loadCorpus({ sources: ['sotu'], maxDocsPerSource: docs });
  const sentences = sentencesOf(corpus).filter((s) => {
    const n = s.split(/\s+/).length;
    return n >= 5 && n <= 14;
  });
  const picked = new Rng(17).shuffle(sentences).slice(0, 280);
  const prompt = 'Say something about the nation.';
  const judge = await createGoldJudge('positive-vader');
  const scored: { text: string; gold: number }[] = [];
  try {
    for (const text of picked) scored.push({ text, gold: (await judge.score(prompt, text)).score });
  } finally {
    await judge.close();
  }
  const tokenizer = await BpeTokenizer.train([prompt, ...picked], 512);
  const promptTokens = formatPrompt(tokenizer, prompt);
  const half = scored.length / 2;
  const pools = [scored.slice(0, half), scored.slice(half)];
  const rng = new Rng(23);
  const pairsFrom = (pool: { text: string; gold: number }[], n: number): PreferencePair[] => {
    const out: PreferencePair[] = [];
    for (let tries = 0; out.length < n && tries < 100 * n; tries++) {
      const a = pool[rng.int(pool.length)]!;
      const b = pool[rng.int(pool.length)]!;
      if (Math.abs(a.gold - b.gold) < 0.15) continue;
      const [c, r] = a.gold > b.gold ? [a, b] : [b, a];
      const side = (x: { text: string; gold: number }) => ({ text: x.text, tokens: tokenizer.encode(x.text), gold: x.gold, finished: true });
      out.push({ promptId: 'p', prompt, promptTokens, chosen: side(c), rejected: side(r), agreesWithGold: true });
    }
    return out;
  };
  return { tokenizer, train: pairsFrom(pools[0]!, nTrain), heldOut: pairsFrom(pools[1]!, nHeldOut) };
}

/** Data artifacts built in memory from the fixture sentences and instructions (no corpus build). */
export async function tinyArtifacts(): Promise<DataArtifacts> {
  const tokenizer = await tinyTokenizer();
  const doc = (i: number, text: string) => ({ id: `t/${i}`, source: 'sotu' as const, text });
  const pairs = INSTRUCTIONS.map((p) => ({ ...p, word: 'w', pos: 'n', kind: 'define' as const }));
  // The manifest fields the stages read; the rest of a real build's manifest does not matter here.
  const manifest = { contentHash: 'tiny-fixture-1' } as DataArtifacts['manifest'];
  const prompts = ['The ship sailed', 'Define whale.', 'Our nation grows', 'The old sailor', 'Define storm.', 'Peace and freedom'];
  return {
    dir: '',
    manifest,
    tokenizer,
    corpus: { train: [doc(0, SENTENCES.join(' ')), doc(1, SENTENCES.slice().reverse().join(' '))], valid: [doc(2, SENTENCES.slice(2, 6).join(' '))], test: [] },
    instructions: { train: pairs, valid: pairs.slice(0, 3) },
    prompts: { train: prompts.map((text, i) => ({ id: `p${i}`, kind: 'opening' as const, text })), eval: [] },
    reused: true,
  };
}
