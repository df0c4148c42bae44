// The trainer's seeded generator and seed derivation live in src/util/random.ts (shared with the model's
// random initialisation); re-exported here under their long-standing names.
export { Rng, deriveSeed, mix32 } from '../util/random.js';
