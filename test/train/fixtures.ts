// Tiny in-memory fixtures for the training tests: a small BPE tokenizer, a tiny model config, a config in a temp folder.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from '../../src/config/index.js';
import { BpeTokenizer } from '../../src/data/tokenizer.js';
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
