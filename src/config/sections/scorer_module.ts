// Config slice for judge.scorer module: a JS/TS module exporting the scoring function.
import { oneOf, str } from '../fields.js';

export const scorerModule = {
  path: str('', 'a .js, .mjs or .ts file (relative to the working directory) exporting the scoring function'),
  kind: oneOf(['pointwise', 'pairwise'] as const, 'pointwise', 'pointwise: score(prompt, responses) -> number[]; pairwise: compare(prompt, a, b) -> P(a better) in [0, 1]'),
  export: str('', 'the export\'s name; empty = score (pointwise) or compare (pairwise)', /^([A-Za-z_$][A-Za-z0-9_$]*)?$/),
};
