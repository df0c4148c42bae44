export type { Generator, GeneratorEnv, GeneratorName, ItemPlan, Candidate, AcceptedCandidate, ProvenanceBase } from './generator.js';
export { GENERATOR_NAMES } from './generator.js';
export { paraphraseGenerator } from './paraphrase.js';
export { augmentGenerator, NEGATIVE_KINDS } from './augment.js';
export { hardNegativeGenerator } from './hard-negative.js';
import type { Generator, GeneratorEnv, GeneratorName } from './generator.js';
import { paraphraseGenerator } from './paraphrase.js';
import { augmentGenerator } from './augment.js';
import { hardNegativeGenerator } from './hard-negative.js';

/** Builds a generator by name (loads and checks its prompt templates). */
export function createGenerator(name: GeneratorName, env: GeneratorEnv): Generator {
  switch (name) {
    case 'paraphrase':
      return paraphraseGenerator(env);
    case 'augment':
      return augmentGenerator(env);
    case 'hard-negative':
      return hardNegativeGenerator(env);
    default:
      throw new Error(`unknown generator "${name as string}" (expected paraphrase, augment or hard-negative)`);
  }
}
