// The online stage end to end with each kind of scorer (proxy BT and pairwise models, http-reward, llm-judge, module) on the in-process bus.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bus as makeBus } from '../actors/fakes.js';
import { baseCfg, K, kinds, PROMPTS, runWith, settingsFor } from './online_harness.js';

describe('online stage with each scorer, in-process bus', () => {
  for (const kind of kinds) {
    it(`${kind}: every group judged once`, async () => {
      const { sections, requests } = await settingsFor(kind);
      const bus = makeBus(`online-${kind}`);
      try {
        await runWith(kind, baseCfg(sections), bus);
        if (kind === 'http-reward') assert.equal(requests(), PROMPTS, 'one request per group');
        if (kind === 'llm-judge') assert.equal(requests(), 2 * PROMPTS * (K - 1 + K / 2 - 1), 'both orders per comparison');
      } finally {
        await bus.close();
      }
    });
  }
});

