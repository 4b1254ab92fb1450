// Streaming online DPO with a LoRA adapter on an imported GPT-2-style model through the real CLI: the run trains the
// adapter only, export writes it in PEFT's layout (and --merge a full folder), generate applies it with --adapter, and a
// second run continues from the exported adapter with --adapter; the same run also goes through a real nats-server.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, test } from 'node:test';
import { decodeSafetensors } from '../../src/checkpoint/safetensors.js';
import { writeHfFixture } from '../helpers/hf_fixtures.js';
import { natsServerAvailable, sharedNatsServer } from '../helpers/nats_server.js';

const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'lora-run-'));
after(() => rmSync(root, { recursive: true, force: true }));

function runCli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 400_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const TEMPLATE = "{{ bos_token }}Q: {{ messages[0]['content'] }} A:{% if messages | length > 1 %} {{ messages[1]['content'] }}{{ eos_token }}{% endif %}";
const model = join(root, 'tiny-gpt2');
const common = ['--config', 'config/tiny.yaml', '--set', `run.cacheDir=${join(root, 'cache')}`, '--set', `run.dir=${join(root, 'runs')}`];
const lora = [...common, '--model', model, '--set', 'sft.pretrainSteps=0', '--set', 'sft.epochs=1', '--set', 'learner.adapter=lora', '--set', 'learner.lora.rank=4', '--set', 'learner.lora.alpha=8', '--set', 'learner.lr=0.001'];

test('rlhf-stream run with learner.adapter lora trains the adapter online; export writes PEFT and merged folders; --adapter loads it', () => {
  writeHfFixture(model, { type: 'gpt2', ctx: 128, std: 0.05, chatTemplate: TEMPLATE });
  const run = runCli(['run', ...lora, '--set', 'run.id=lora']);
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /mode streaming: 6 learner steps, policy version 3/);
  const runDir = join(root, 'runs', 'lora');
  const ck = join(runDir, 'checkpoints');
  const names = Object.keys(decodeSafetensors(readFileSync(join(ck, 'model.safetensors'))).tensors);
  assert.ok(names.length > 0 && names.every((n) => /\.lora_[AB]$/.test(n)), `the checkpoint holds the adapter only: ${names.slice(0, 3).join(', ')} ...`);

  const peft = join(root, 'adapter');
  const exp = runCli(['export', '--checkpoint', ck, '--out', peft]);
  assert.equal(exp.code, 0, exp.err);
  const acfg = JSON.parse(readFileSync(join(peft, 'adapter_config.json'), 'utf8'));
  assert.equal(acfg.peft_type, 'LORA');
  assert.equal(acfg.r, 4);
  assert.deepEqual(acfg.target_modules, ['c_attn', 'c_proj', 'c_fc']);
  const tensors = decodeSafetensors(readFileSync(join(peft, 'adapter_model.safetensors'))).tensors;
  assert.deepEqual(tensors['base_model.model.transformer.h.0.attn.c_attn.lora_A.weight']!.shape, [4, 64]);
  assert.deepEqual(tensors['base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight']!.shape, [64, 4]);
  const b = tensors['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight']!.data;
  assert.ok(b.some((x) => x !== 0), 'training moved B away from zero');

  const merged = join(root, 'merged');
  const mexp = runCli(['export', '--checkpoint', ck, '--out', merged, '--merge']);
  assert.equal(mexp.code, 0, mexp.err);
  assert.equal(JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8')).model_type, 'gpt2');
  assert.ok(existsSync(join(merged, 'model.safetensors')));

  // The adapter's base is the run's SFT model, which adapter_config.json names. Sampling with one seed: the merged
  // folder, the learner checkpoint and the SFT model + --adapter say the same.
  const base = acfg.base_model_name_or_path as string;
  assert.ok(existsSync(join(base, 'model.safetensors')), `the base model folder ${base} exists`);
  const ask = ['--max-new-tokens', '8', '--temperature', '1', '--top-p', '1', '--seed', '5', 'Define commissary.', 'The river'];
  const viaMerged = runCli(['generate', '--model', merged, ...ask]);
  const viaCheckpoint = runCli(['generate', '--checkpoint', ck, ...ask]);
  const viaAdapter = runCli(['generate', '--checkpoint', base, '--adapter', peft, ...ask]);
  for (const r of [viaMerged, viaCheckpoint, viaAdapter]) assert.equal(r.code, 0, r.err);
  assert.match(viaMerged.out, /^### Define commissary\.\n.*\n### The river\n/m);
  assert.equal(viaAdapter.out, viaMerged.out);
  assert.equal(viaCheckpoint.out, viaMerged.out);

  // A second run continues from the exported adapter.
  const again = runCli(['run', ...lora, '--adapter', peft, '--set', 'run.id=lora-continued']);
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /mode streaming: 6 learner steps, policy version 3/);
});

describe('over NATS JetStream', { skip: natsServerAvailable() ? false : 'nats-server not found' }, () => {
  const nats = sharedNatsServer();
  it('the LoRA run goes through a real nats-server: versions in the weight store are the adapter alone', () => {
    const run = runCli(['run', ...lora, '--set', 'bus.kind=nats', '--set', `bus.servers=${nats.url}`, '--set', 'run.id=lora-nats']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.err, /bus nats/);
    assert.match(run.out, /mode streaming: 6 learner steps, policy version 3/);
  });
});
