// Augmentation (semantic diversification): from (q, pos) make N new (q', pos', neg') on new topics
// of the same field: q' within ±20 % of q's length and not a rewrite of q; pos' and neg' within
// ±20 % of pos's length; neg' worse than pos' by deviation, irrelevant content or another aspect,
// and not (nearly) pos'. Retrieval records only: the recipe never augments NLI or classification
// data, whose labels would not carry over to a new topic.
import { tooClose, type SynthConstraints } from '../constraints.js';
import { detectLanguage } from '../language-id.js';
import { loadTemplate } from '../prompts.js';
import type { CanonicalRecord, RetrievalRecord } from '../records.js';
import { estimateTokens } from '../token-estimate.js';
import type { Candidate, Generator, GeneratorEnv, ItemPlan } from './generator.js';
import { checkField, commonVariables, dedupKey, describeOriginal, outputId, pickOptional, provenance, unlessRetrievalWithPositive } from './common.js';

export const NEGATIVE_KINDS = ['deviation', 'irrelevant', 'aspect'] as const;

export function lowerKind(item: unknown, key: string): unknown {
  if (item && typeof item === 'object' && !Array.isArray(item)) {
    const v = (item as Record<string, unknown>)[key];
    if (typeof v === 'string') return { ...(item as object), [key]: v.trim().toLowerCase() };
  }
  return item;
}

export function augmentGenerator(env: GeneratorEnv): Generator {
  const c: SynthConstraints = env.constraints;
  const measure = env.measure;
  const template = loadTemplate('augment-retrieval', ['n', 'language', 'length_unit', 'length_tolerance', 'query_length', 'positive_length', 'input_json', 'feedback'], env.promptsDir);

  function plan(record: CanonicalRecord): ItemPlan {
    const r = record as RetrievalRecord;
    const q = describeOriginal(r.query, measure);
    const p = describeOriginal(r.pos[0]!, measure);
    const language = detectLanguage(`${r.query}\n${r.pos[0]}`);
    const tol = c.generationLengthTolerance;
    return {
      template,
      listKey: 'examples',
      itemSchema: {
        type: 'object',
        required: ['query', 'positive', 'negative', 'negative_kind'],
        properties: {
          query: { type: 'string' },
          positive: { type: 'string' },
          negative: { type: 'string' },
          negative_kind: { type: 'string', enum: NEGATIVE_KINDS },
        },
      },
      coerce: (item) => lowerKind(item, 'negative_kind'),
      variables: (need, feedback) => ({
        ...commonVariables(need, feedback, language, measure, tol, { query: r.query, positive: r.pos[0] }),
        query_length: q.length,
        positive_length: p.length,
      }),
      check(cand: Candidate, accepted) {
        const rej =
          checkField('query', cand.query!, q, c, measure, tol, true) ??
          checkField('positive', cand.positive!, p, c, measure, tol, true) ??
          checkField('negative', cand.negative!, p, c, measure, tol, false);
        if (rej) return rej;
        if (tooClose(cand.negative!, cand.positive!, c.minNegativeDifference)) {
          return { reason: 'negative_too_close', field: 'negative', message: 'the negative is nearly the same text as the positive; it must be a clearly worse answer' };
        }
        for (const a of accepted) {
          if (tooClose(a.candidate.query!, cand.query!, c.minOutputDifference)) {
            return { reason: 'duplicate', field: 'query', message: 'two examples have nearly the same query; every example needs its own topic' };
          }
        }
        return null;
      },
      globalKeys: (cand) => [dedupKey(cand.query!)],
      emit: (accepted, base) =>
        accepted.map((a, k) => ({
          type: 'retrieval',
          query: a.candidate.query!,
          pos: [a.candidate.positive!],
          neg: [a.candidate.negative!],
          ...pickOptional(r, ['instruction', 'dataset']),
          id: outputId('augment', base.sourceId, k),
          provenance: provenance('augment', template, base, a.attempt, { negative_kinds: [a.candidate.negative_kind] }),
        })),
      expectedOutputTokens: (need) => need * (estimateTokens(r.query) + 2 * estimateTokens(r.pos[0]!) + 30) + 10,
    };
  }

  return {
    name: 'augment',
    templates: { retrieval: template },
    unsupported: unlessRetrievalWithPositive,
    plan,
    outputKeys: (record) => (record.type === 'retrieval' ? [dedupKey(record.query)] : []),
  };
}
