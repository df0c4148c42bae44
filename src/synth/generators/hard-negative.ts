// Hard-negative generation: for (q, pos) write N negatives that imitate pos's structure, are
// within ±20 % of its length, keep the language, are worse than pos by deviation, irrelevant
// content or another aspect, and are not (nearly) pos or each other. Output: the source record
// with the accepted negatives appended to its `neg` list (existing negatives are kept).
import { tooClose, type SynthConstraints } from '../constraints.js';
import { detectLanguage } from '../language-id.js';
import { loadTemplate } from '../prompts.js';
import type { CanonicalRecord, RetrievalRecord } from '../records.js';
import { estimateTokens } from '../token-estimate.js';
import type { Candidate, Generator, GeneratorEnv, ItemPlan } from './generator.js';
import { checkField, commonVariables, describeOriginal, lastAttempt, outputId, pickOptional, provenance, unlessRetrievalWithPositive } from './common.js';
import { NEGATIVE_KINDS, lowerKind } from './augment.js';

export function hardNegativeGenerator(env: GeneratorEnv): Generator {
  const c: SynthConstraints = env.constraints;
  const measure = env.measure;
  const template = loadTemplate('hard-negative-retrieval', ['n', 'language', 'length_unit', 'length_tolerance', 'positive_length', 'input_json', 'feedback'], env.promptsDir);

  function plan(record: CanonicalRecord): ItemPlan {
    const r = record as RetrievalRecord;
    const p = describeOriginal(r.pos[0]!, measure);
    const existing = r.neg ?? [];
    const language = detectLanguage(`${r.query}\n${r.pos[0]}`);
    const tol = c.generationLengthTolerance;
    return {
      template,
      listKey: 'negatives',
      itemSchema: {
        type: 'object',
        required: ['text', 'kind'],
        properties: { text: { type: 'string' }, kind: { type: 'string', enum: NEGATIVE_KINDS } },
      },
      coerce: (item) => lowerKind(item, 'kind'),
      variables: (need, feedback) => ({
        ...commonVariables(need, feedback, language, measure, tol, { query: r.query, positive: r.pos[0] }),
        positive_length: p.length,
      }),
      check(cand: Candidate, accepted) {
        const rej = checkField('negative', cand.text!, p, c, measure, tol, false);
        if (rej) return rej;
        for (const pos of r.pos) {
          if (tooClose(cand.text!, pos, c.minNegativeDifference)) {
            return { reason: 'negative_too_close', field: 'negative', message: 'a negative is nearly the same text as the positive; it must be a clearly worse answer' };
          }
        }
        for (const other of [...existing, ...accepted.map((a) => a.candidate.text!)]) {
          if (tooClose(other, cand.text!, c.minOutputDifference)) {
            return { reason: 'duplicate', field: 'negative', message: 'two negatives are nearly the same; make every negative different' };
          }
        }
        return null;
      },
      globalKeys: () => [],
      emit(accepted, base) {
        if (accepted.length === 0) return [];
        return [{
          type: 'retrieval',
          query: r.query,
          pos: [...r.pos],
          neg: [...existing, ...accepted.map((a) => a.candidate.text!)],
          ...pickOptional(r, ['instruction', 'dataset']),
          id: outputId('hard-negative', base.sourceId, 0),
          provenance: provenance('hard-negative', template, base, lastAttempt(accepted), {
            negative_kinds: accepted.map((a) => a.candidate.kind),
            negative_attempts: accepted.map((a) => a.attempt),
            existing_negatives: existing.length,
          }),
        }];
      },
      expectedOutputTokens: (need) => need * (estimateTokens(r.pos[0]!) + 15) + 10,
    };
  }

  return {
    name: 'hard-negative',
    templates: { retrieval: template },
    unsupported: unlessRetrievalWithPositive,
    plan,
    outputKeys: () => [],
  };
}
