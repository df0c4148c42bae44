// From the data side's batches (src/data RecordStore: one example per anchor, each with its own
// negatives) to the GradCache step's batches (one row per text, hard negatives as one pool, class
// labels per negative), applying the training instruction per side with the QZhou prompt template.
import type { Batch } from '../data/record-store.js';
import { formatPrompt, QZHOU_PROMPT_TEMPLATE } from '../model/instructions.js';
import type { TrainBatch } from './gradcache.js';
import { trainingInstruction, type DataSource } from './config.js';

export interface ToTrainBatchOptions {
  /** The data source the batch's dataset came from (its instruction and sides), if any. */
  source?: Pick<DataSource, 'instruction' | 'sides'>;
  /** Prompt template with `{instruction}` (default the QZhou evaluation form). */
  template?: string;
}

/** Converts a RecordStore batch to texts for the GradCache step, with instruction prefixes applied. */
export function toTrainBatch(batch: Batch, opts: ToTrainBatchOptions = {}): TrainBatch<string> {
  const source = opts.source ?? {};
  const template = opts.template ?? QZHOU_PROMPT_TEMPLATE;
  const prefix = (kind: 'query' | 'document', own: string | undefined) => formatPrompt(trainingInstruction(batch.family, kind, source, own), template);
  switch (batch.family) {
    case 'retrieval':
      return {
        family: 'retrieval',
        dataset: batch.dataset,
        queries: batch.examples.map((e) => prefix('query', e.instruction) + e.query),
        positives: batch.examples.map((e) => prefix('document', e.instruction) + e.pos),
        negatives: batch.examples.flatMap((e) => e.negs.map((n) => prefix('document', e.instruction) + n)),
      };
    case 'pair':
      return {
        family: 'pair',
        dataset: batch.dataset,
        text1: batch.examples.map((e) => prefix('query', e.instruction) + e.text1),
        text2: batch.examples.map((e) => prefix('document', e.instruction) + e.text2),
        scores: batch.examples.map((e) => e.score),
      };
    case 'cls':
      return {
        family: 'cls',
        dataset: batch.dataset,
        anchors: batch.examples.map((e) => prefix('query', e.instruction) + e.query),
        positives: batch.examples.map((e) => prefix('document', e.instruction) + e.pos),
        negatives: batch.examples.flatMap((e) => e.negs.map((n) => prefix('document', e.instruction) + n)),
        labels: batch.examples.map((e) => e.label),
        negativeLabels: batch.examples.flatMap((e) => {
          if (e.negLabels.length !== e.negs.length) throw new Error(`toTrainBatch: cls example "${e.query.slice(0, 40)}" has ${e.negs.length} negatives but ${e.negLabels.length} negative labels`);
          return e.negLabels;
        }),
      };
  }
}
