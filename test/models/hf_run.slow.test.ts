// The whole recipe from an imported Llama-style model through the real CLI: data -> SFT from the import -> reward model
// from the same base -> streaming online DPO (reference = the starting model) -> export of the trained policy as an HF
// folder that loads again and generates.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, test } from 'node:test';
import { writeHfFixture } from '../helpers/hf_fixtures.js';
import { natsServerAvailable, sharedNatsServer } from '../helpers/nats_server.js';

const cli = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const root = mkdtempSync(join(tmpdir(), 'hf-run-'));
after(() => rmSync(root, { recursive: true, force: true }));

function runCli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 400_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const TEMPLATE = "{{ bos_token }}Q: {{ messages[0]['content'] }} A:{% if messages | length > 1 %} {{ messages[1]['content'] }}{{ eos_token }}{% endif %}";

const model = join(root, 'tiny-llama');
const common = ['--config', 'config/tiny.yaml', '--set', `run.cacheDir=${join(root, 'cache')}`, '--set', `run.dir=${join(root, 'runs')}`];
const fromImport = [...common, '--model', model, '--set', 'sft.pretrainSteps=0', '--set', 'sft.epochs=1'];

test('rlhf-stream run --model DIR trains an imported Llama-style model online, and export writes a folder that loads', () => {
  writeHfFixture(model, { type: 'llama', kvHeads: 2, tied: false, ctx: 128, std: 0.05, chatTemplate: TEMPLATE });
  const run = runCli(['run', ...fromImport, '--set', 'run.id=imported']);
  assert.equal(run.code, 0, run.err);
  assert.match(run.err, /sft: imported .*tiny-llama: llama 2 layers, d 64, 4 heads \(2 kv\)/);
  assert.match(run.out, /mode streaming: 6 learner steps, policy version 3/);
  const runDir = join(root, 'runs', 'imported');
  const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8'));
  assert.equal(summary.summary.steps, 6);
  assert.ok(summary.summary.pairsTrained >= 24, `pairs trained ${summary.summary.pairsTrained}`);

  const out = join(root, 'exported');
  const exp = runCli(['export', '--checkpoint', join(runDir, 'checkpoints'), '--out', out]);
  assert.equal(exp.code, 0, exp.err);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(config.model_type, 'llama');
  assert.equal(config.num_key_value_heads, 2);
  assert.equal(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')).chat_template, TEMPLATE);
  assert.ok(existsSync(join(out, 'model.safetensors')));

  const gen = runCli(['generate', '--model', out, '--max-new-tokens', '6', '--samples', '2', 'Define commissary.', 'The river']);
  assert.equal(gen.code, 0, gen.err);
  assert.match(gen.out, /^### Define commissary\.\n\[1\] .*\n\[2\] .*\n### The river\n/m);
});

describe('over NATS JetStream', { skip: natsServerAvailable() ? false : 'nats-server not found' }, () => {
  const nats = sharedNatsServer();
  it('the same imported model trains online with the actors talking through a real nats-server (cached stages reused)', () => {
    const run = runCli(['run', ...fromImport, '--set', 'bus.kind=nats', '--set', `bus.servers=${nats.url}`, '--set', 'run.id=imported-nats']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.err, /going straight to the online stage/);
    assert.match(run.err, /bus nats/);
    assert.match(run.out, /mode streaming: 6 learner steps, policy version 3/);
  });
});
