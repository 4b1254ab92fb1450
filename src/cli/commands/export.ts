// `rlhf-stream export`: writes a policy (imported, SFT, or trained by a run) as a Hugging Face model folder.
import type { Command } from '../command.js';
import { flag, UsageError } from '../args.js';
import { CONFIG_FLAGS, configFromArgs, startBackend } from '../common.js';
import { disposeModel } from '../../kernels/gpt.js';
import { exportHfFolder } from '../../models/hf_export.js';
import { loadPolicy } from '../../models/policy_source.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'write a policy checkpoint (ours, imported or trained) as a Hugging Face folder: config.json, model.safetensors, tokenizer, chat template',
  usage: [
    'rlhf-stream export --checkpoint DIR --out DIR [--tokenizer DIR]',
    '',
    'DIR is an SFT checkpoint, a run\'s learner checkpoint (<run.dir>/<run id>/checkpoints; its tokenizer is found through',
    'the run\'s config.json), or a Hugging Face folder. --tokenizer takes the tokenizer from another folder.',
    'GPT-2 layout models are written as model_type gpt2, Llama-family ones as llama (qwen2 with q/k/v biases).',
  ].join('\n'),
  flags: [...CONFIG_FLAGS, 'checkpoint', 'out', 'tokenizer'],
  async run(args) {
    const src = flag(args, 'checkpoint');
    const out = flag(args, 'out');
    if (!src || !out) throw new UsageError('export needs --checkpoint DIR and --out DIR');
    await startBackend(configFromArgs(args));
    const { model, tokenizer, format } = await loadPolicy(src, flag(args, 'tokenizer'));
    try {
      await exportHfFolder(out, model, tokenizer);
      const c = model.cfg;
      console.log(`exported ${format === 'hf' ? 'Hugging Face folder' : 'checkpoint'} ${src} (${c.arch ?? 'gpt2'}, ${c.layers} layers, d ${c.dModel}) to ${out}`);
      return 0;
    } finally {
      disposeModel(model);
    }
  },
};
