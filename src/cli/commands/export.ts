// `rlhf-stream export`: writes a policy (imported, SFT, or trained by a run) as a Hugging Face model folder.
import type { Command } from '../command.js';
import { flag, UsageError } from '../args.js';
import { CONFIG_FLAGS, configFromArgs, startBackend } from '../common.js';
import { disposeModel } from '../../kernels/gpt.js';
import { exportHfFolder, exportMergedHfFolder } from '../../models/hf_export.js';
import { writePeftAdapter } from '../../models/peft_adapter.js';
import { loadPolicy } from '../../models/policy_source.js';

export const exportCommand: Command = {
  name: 'export',
  summary: 'write a policy checkpoint (ours, imported or trained) as a Hugging Face folder: config.json, model.safetensors, tokenizer, chat template',
  usage: [
    'rlhf-stream export --checkpoint DIR --out DIR [--merge] [--tokenizer DIR]',
    '',
    'A run trained with learner.adapter lora is written as a PEFT adapter folder (adapter_config.json,',
    'adapter_model.safetensors) that PEFT and vLLM load on the base model; --merge writes a full Hugging Face folder',
    'with W + (alpha / r) B A folded in instead.',
    'DIR is an SFT checkpoint, a run\'s learner checkpoint (<run.dir>/<run id>/checkpoints; its tokenizer is found through',
    'the run\'s config.json), or a Hugging Face folder. --tokenizer takes the tokenizer from another folder.',
    'GPT-2 layout models are written as model_type gpt2, Llama-family ones as llama (qwen2 with q/k/v biases).',
  ].join('\n'),
  flags: [...CONFIG_FLAGS, 'checkpoint', 'out', 'tokenizer', 'merge'],
  async run(args) {
    const src = flag(args, 'checkpoint');
    const out = flag(args, 'out');
    if (!src || !out) throw new UsageError('export needs --checkpoint DIR and --out DIR');
    await startBackend(configFromArgs(args));
    const { model, tokenizer, format, base } = await loadPolicy(src, flag(args, 'tokenizer'));
    const merge = args.flags.has('merge');
    try {
      const c = model.cfg;
      if (merge && !model.lora) throw new UsageError(`--merge folds a LoRA adapter into its base; ${src} holds full weights (export it without --merge)`);
      if (model.lora && !merge) {
        await writePeftAdapter(out, model, base ?? '');
        const a = model.lora.spec;
        console.log(`exported the LoRA adapter of ${src} (r ${a.rank}, alpha ${a.alpha}, ${a.targetModules.join(', ')}) as a PEFT folder to ${out}; its base model is ${base ?? 'the model it was trained on'}`);
        return 0;
      }
      await (merge ? exportMergedHfFolder(out, model, tokenizer) : exportHfFolder(out, model, tokenizer));
      console.log(`exported ${format === 'hf' ? 'Hugging Face folder' : 'checkpoint'} ${src}${merge ? ' with its adapter merged' : ''} (${c.arch ?? 'gpt2'}, ${c.layers} layers, d ${c.dModel}) to ${out}`);
      return 0;
    } finally {
      disposeModel(model);
    }
  },
};
