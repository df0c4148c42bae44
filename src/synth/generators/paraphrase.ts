// Paraphrase (structural diversification): same meaning, length within ±15 %, at least 30 %
// (sentences) / 20 % (paragraphs) different by normalised edit distance, no copied adjacent
// sentences, same language, no near-duplicate rewrites. Works on retrieval records (query and first
// positive rewritten together), scored pairs (both texts; the score stays valid) and classification
// records (the text; the label stays valid).
import { tooClose, type LengthMeasure, type SynthConstraints } from '../constraints.js';
import { detectLanguage } from '../language-id.js';
import { loadTemplate } from '../prompts.js';
import type { CanonicalRecord, ClsRecord, PairRecord, RetrievalRecord } from '../records.js';
import { estimateTokens } from '../token-estimate.js';
import type { AcceptedCandidate, Candidate, Generator, GeneratorEnv, ItemPlan } from './generator.js';
import { checkField, commonVariables, dedupKey, describeOriginal, minDifference, outputId, percent, pickOptional, provenance } from './common.js';

const COMMON_VARS = ['n', 'language', 'length_unit', 'length_tolerance', 'input_json', 'feedback'];

interface FieldSpec {
  /** Answer field. */
  name: string;
  original: string;
}

export function paraphraseGenerator(env: GeneratorEnv): Generator {
  const c: SynthConstraints = env.constraints;
  const measure: LengthMeasure = env.measure;
  const templates = {
    retrieval: loadTemplate('paraphrase-retrieval', [...COMMON_VARS, 'query_length', 'positive_length', 'query_min_difference', 'positive_min_difference'], env.promptsDir),
    pair: loadTemplate('paraphrase-pair', [...COMMON_VARS, 'text1_length', 'text2_length', 'text1_min_difference', 'text2_min_difference', 'score'], env.promptsDir),
    cls: loadTemplate('paraphrase-cls', [...COMMON_VARS, 'text_length', 'text_min_difference', 'label'], env.promptsDir),
  };

  function fieldsOf(record: CanonicalRecord): FieldSpec[] {
    switch (record.type) {
      case 'retrieval':
        return [{ name: 'query', original: record.query }, { name: 'positive', original: record.pos[0]! }];
      case 'pair':
        return [{ name: 'text1', original: record.text1 }, { name: 'text2', original: record.text2 }];
      case 'cls':
        return [{ name: 'text', original: record.text }];
    }
  }

  function plan(record: CanonicalRecord): ItemPlan {
    const template = templates[record.type];
    const fields = fieldsOf(record).map((f) => ({ ...f, desc: describeOriginal(f.original, measure) }));
    const language = detectLanguage(fields.map((f) => f.original).join('\n'));
    const input: Record<string, string | number> = Object.fromEntries(fields.map((f) => [f.name, f.original]));
    if (record.type === 'cls') input.label = record.label;
    if (record.type === 'pair') input.score = record.score;
    const itemSchema = {
      type: 'object' as const,
      required: fields.map((f) => f.name),
      properties: Object.fromEntries(fields.map((f) => [f.name, { type: 'string' as const }])),
    };
    return {
      template,
      listKey: 'paraphrases',
      itemSchema,
      variables(need, feedback) {
        const vars = commonVariables(need, feedback, language, measure, c.paraphraseLengthTolerance, input);
        for (const f of fields) {
          vars[`${f.name}_length`] = f.desc.length;
          vars[`${f.name}_min_difference`] = percent(minDifference(f.desc, c));
        }
        if (record.type === 'cls') vars.label = String(record.label);
        if (record.type === 'pair') vars.score = record.score;
        return vars;
      },
      check(cand: Candidate, accepted: readonly AcceptedCandidate[]) {
        for (const f of fields) {
          const r = checkField(f.name, cand[f.name]!, f.desc, c, measure, c.paraphraseLengthTolerance, true);
          if (r) return r;
        }
        for (const a of accepted) {
          for (const f of fields) {
            if (tooClose(a.candidate[f.name]!, cand[f.name]!, c.minOutputDifference)) {
              return { reason: 'duplicate', field: f.name, message: `two rewrites have nearly the same ${f.name}; make every rewrite different from the others` };
            }
          }
        }
        return null;
      },
      globalKeys: (cand) => [dedupKey(...fields.map((f) => cand[f.name]!))],
      emit(accepted, base) {
        return accepted.map((a, k) => {
          const prov = provenance('paraphrase', template, base, a.attempt);
          const id = outputId('paraphrase', base.sourceId, k);
          const x = a.candidate;
          switch (record.type) {
            case 'retrieval':
              return { type: 'retrieval', query: x.query!, pos: [x.positive!], neg: [], ...pickOptional(record, ['instruction', 'dataset']), id, provenance: prov } as RetrievalRecord;
            case 'pair':
              return { type: 'pair', text1: x.text1!, text2: x.text2!, score: record.score, ...pickOptional(record, ['dataset']), id, provenance: prov } as PairRecord;
            case 'cls':
              return { type: 'cls', text: x.text!, label: record.label, ...pickOptional(record, ['dataset']), id, provenance: prov } as ClsRecord;
          }
        });
      },
      expectedOutputTokens: (need) => need * (fields.reduce((s, f) => s + estimateTokens(f.original), 0) + 8 * fields.length) + 10,
    };
  }

  return {
    name: 'paraphrase',
    templates,
    unsupported(record) {
      if (record.type === 'retrieval' && record.pos.length === 0) return 'no_positive';
      return null;
    },
    plan,
    outputKeys(record) {
      switch (record.type) {
        case 'retrieval':
          return record.pos[0] === undefined ? [] : [dedupKey(record.query, record.pos[0])];
        case 'pair':
          return [dedupKey(record.text1, record.text2)];
        case 'cls':
          return [dedupKey(record.text)];
      }
    },
  };
}
