// Model families by config.json model_type; an unknown type is refused with the list of known ones.
import { ModelFamilyError, type ModelFamily } from './family.js';
import { gpt2Family } from './gpt2.js';
import { llamaFamily } from './llama.js';

const FAMILIES: readonly ModelFamily[] = [gpt2Family, llamaFamily];

export const KNOWN_MODEL_TYPES: readonly string[] = FAMILIES.flatMap((f) => f.modelTypes);

export function familyOf(modelType: unknown): ModelFamily {
  const family = FAMILIES.find((f) => f.modelTypes.includes(modelType as string));
  if (!family) {
    throw new ModelFamilyError(`config.json field model_type is ${JSON.stringify(modelType)}; supported: ${KNOWN_MODEL_TYPES.join(', ')}`);
  }
  return family;
}

/** The family that writes a model with this architecture back out. */
export function familyForArch(arch: 'gpt2' | 'llama' | undefined): ModelFamily {
  return arch === 'llama' ? llamaFamily : gpt2Family;
}
