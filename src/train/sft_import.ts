// The SFT stage of a run that starts from an imported Hugging Face model: its weights become the policy checkpoint,
// optionally tuned further on the project's data (sft.pretrainSteps, sft.epochs; 0 and 0 skip SFT entirely).
import type { Config } from '../config/index.js';
import { disposeModel } from '../kernels/gpt.js';
import { importHfModel } from '../models/policy_source.js';
import { sftDir } from '../models/source.js';
import { hashInputs, writeManifest } from './manifest.js';
import { saveModel, type SftData } from './model_io.js';
import { finetune, pretrain, sftInputs, type TrainOptions } from './sft.js';

export async function importSft(cfg: Config, data: SftData, opts: TrainOptions = {}): Promise<string> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const dir = sftDir(cfg);
  const started = performance.now();
  const source = cfg.model.source;
  const { model, tokenizer } = await importHfModel(source);
  const c = model.cfg;
  log(`sft: imported ${source}: ${c.arch} ${c.layers} layers, d ${c.dModel}, ${c.heads} heads (${c.kvHeads ?? c.heads} kv), vocabulary ${c.vocabSize}, context ${c.contextLength}`);
  try {
    // The imported tokenizer replaces the one the data stage trained: the prompts and texts are the same.
    const own: SftData = { ...data, tokenizer };
    const summary: Record<string, unknown> = { source };
    if (cfg.sft.pretrainSteps > 0) summary.pretrain = await pretrain(model, cfg, own, opts, log);
    if (cfg.sft.epochs > 0) summary.finetune = await finetune(model, cfg, own, opts, log);
    if (cfg.sft.pretrainSteps === 0 && cfg.sft.epochs === 0) log('sft: sft.pretrainSteps and sft.epochs are 0: the imported model is the policy as it is');
    summary.seconds = (performance.now() - started) / 1000;
    await saveModel(dir, model, { kind: 'policy', head: 'lm', model: c, input: 'formatPrompt(prompt) + response + eos', source }, tokenizer);
    const inputs = sftInputs(cfg, data);
    const files = ['model.safetensors', 'config.json', 'tokenizer.json', ...(tokenizer.configJson?.() !== undefined ? ['tokenizer_config.json'] : [])];
    writeManifest(dir, { stage: 'sft', hash: hashInputs(inputs), inputs, files, summary });
    log(`sft: checkpoint of the imported model in ${dir}`);
    return dir;
  } finally {
    disposeModel(model);
  }
}
