// Config slice for the decoder-only transformer (policy, reference and reward models share it).
import { float, int, oneOf, str } from '../fields.js';

export const model = {
  layers: int(4, 1, 48, 'transformer blocks'),
  dModel: int(128, 8, 4096, 'residual width; must be divisible by heads'),
  heads: int(4, 1, 64, 'attention heads'),
  contextLength: int(128, 8, 8192, 'maximum sequence length (prompt + response)'),
  dropout: float(0, 0, 0.9, 'dropout probability in training'),
  positional: oneOf(['learned', 'rotary'] as const, 'learned', 'position encoding'),
  source: str('', "a local Hugging Face model folder (GPT-2 or Llama family) to start from instead of the tiny model built here; '' builds the tiny model (layers, dModel, heads, positional then apply)"),
};
