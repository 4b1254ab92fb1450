// SFT: the losses fall on a tiny run, the checkpoint reloads to identical logits, and a second call reuses the artifact.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/kernels/backend.js';
import { disposeModel, forwardLogits, initGpt } from '../../src/kernels/gpt.js';
import { readManifest } from '../../src/train/manifest.js';
import { loadModel, saveModel } from '../../src/train/model_io.js';
import { encodeInstruction, evaluateLoss, trainSft } from '../../src/train/sft.js';
import { sequenceBatch } from '../../src/train/batches.js';
import { ProgressBar } from '../../src/train/progress.js';
import { ensureSft, sftDataOf } from '../../src/train/stages.js';
import { tinyArtifacts, tinyConfig, tinyGpt } from './fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const SFT = { pretrainSteps: 40, epochs: 3, batchSize: 8, lr: 3e-3, finetuneLr: 2e-3, warmupSteps: 5, pretrainLength: 24, instructionLength: 32 };

test('a tiny SFT run lowers both losses, writes a checkpoint, and a second call reuses it', async () => {
  const cfg = tinyConfig({ sft: { ...SFT, instructionPairs: 6, continuationPairs: 8 }, data: { promptWords: 3 } });
  const artifacts = await tinyArtifacts();
  const lines: string[] = [];
  const first = await ensureSft(cfg, { data: artifacts, log: (l) => lines.push(l), progress: false });
  assert.equal(first.reused, false);
  for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'manifest.json']) assert.ok(existsSync(join(first.dir, f)), f);
  const s = first.summary as { pretrain: { validLossBefore: number; validLoss: number }; finetune: { validLossBefore: number; validLoss: number } };
  assert.ok(s.pretrain.validLoss < s.pretrain.validLossBefore - 0.5, `pre-train valid loss ${s.pretrain.validLossBefore} -> ${s.pretrain.validLoss}`);
  assert.ok(s.finetune.validLoss < s.finetune.validLossBefore, `tuning valid loss ${s.finetune.validLossBefore} -> ${s.finetune.validLoss}`);
  const second = await ensureSft(cfg, { data: artifacts, log: (l) => lines.push(l), progress: false });
  assert.equal(second.reused, true);
  assert.equal(second.hash, first.hash);
  assert.ok(lines.some((l) => l.includes('reusing')), lines.join('\n'));
  // A changed SFT setting is a different artifact.
  const changed = tinyConfig({ sft: { ...SFT, pretrainSteps: 2, epochs: 1 }, data: { promptWords: 3 }, run: { cacheDir: cfg.run.cacheDir } });
  const third = await ensureSft(changed, { data: artifacts, log: () => {}, progress: false });
  assert.equal(third.reused, false);
  assert.notEqual(third.hash, first.hash);
});

test('the SFT checkpoint reloads to the loss it was saved with, and save/load gives identical logits', async () => {
  const cfg = tinyConfig({ sft: { ...SFT, pretrainSteps: 10, epochs: 1, continuationPairs: 0 } });
  const artifacts = await tinyArtifacts();
  const data = sftDataOf(artifacts, cfg.data.promptWords);
  const dir = await trainSft(cfg, data, { log: () => {}, progress: false });
  const manifest = readManifest(dir)!;
  const recorded = (manifest.summary.finetune as { validLoss: number }).validLoss;
  const { model, config, tokenizer } = await loadModel(dir);
  assert.equal(config.kind, 'policy');
  assert.equal(config.head, 'lm');
  assert.equal(tokenizer!.toJson(), artifacts.tokenizer.toJson());
  // The same validation examples the stage used (instruction valid pairs only: continuationPairs is 0).
  const valid = data.instructions.valid.map((x) => encodeInstruction(data.tokenizer, x.prompt, x.response, 32));
  const lengths = valid.map((v) => v.ids.length - 1);
  const reloaded = evaluateLoss(model, [sequenceBatch(valid, data.tokenizer.special.pad, Math.ceil(Math.max(...lengths) / 8) * 8)]);
  assert.ok(Math.abs(reloaded.loss - recorded) < 1e-4, `reloaded ${reloaded.loss} vs recorded ${recorded}`);
  disposeModel(model);

  const fresh = initGpt(tinyGpt(artifacts.tokenizer.vocabSize), 11, 'lm');
  await saveModel(join(cfg.run.cacheDir, 'roundtrip'), fresh, { kind: 'policy', head: 'lm', model: fresh.cfg });
  const back = (await loadModel(join(cfg.run.cacheDir, 'roundtrip'))).model;
  const tokens = tf.tensor2d([[1, 5, 9, 30, 2], [7, 7, 100, 3, 4]], [2, 5], 'int32');
  const a = forwardLogits(fresh, tokens);
  const b = forwardLogits(back, tokens);
  assert.deepEqual(Array.from(b.dataSync()), Array.from(a.dataSync()));
  tf.dispose([tokens, a, b]);
  disposeModel(fresh);
  disposeModel(back);
});

test('the progress bar redraws one line on a TTY and prints periodic lines otherwise', () => {
  const fakeStream = (isTTY: boolean) => {
    const writes: string[] = [];
    return { writes, stream: { isTTY, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream };
  };
  let now = 0;
  const tty = fakeStream(true);
  const bar = new ProgressBar('pretrain', 10, { stream: tty.stream, now: () => now });
  for (let i = 0; i < 10; i++) {
    now += 500;
    bar.tick(1, 'loss 1.0');
  }
  bar.close();
  assert.ok(tty.writes.every((w) => w.startsWith('\r')), 'TTY updates return to the line start');
  assert.match(tty.writes.at(-1)!, /10\/10 2\.0 step\/s 00:05<00:00 loss 1\.0/);

  now = 0;
  const pipe = fakeStream(false);
  const plain = new ProgressBar('tune', 100, { stream: pipe.stream, now: () => now, lineIntervalMs: 10_000 });
  for (let i = 0; i < 100; i++) {
    now += 1000;
    plain.tick();
  }
  plain.close();
  assert.ok(pipe.writes.every((w) => !w.includes('\r') && w.endsWith('\n')));
  // A line at the first tick, then one every 10 s (at 11 s, 21 s, ... 91 s), one at completion; close() adds nothing new.
  assert.equal(pipe.writes.length, 11);
  assert.match(pipe.writes.at(-1)!, /100\/100/);
});
