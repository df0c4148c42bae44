// Step 4, init: the model training starts from. Either a given checkpoint folder (recorded as is), or a
// from-scratch model: a tokenizer trained on the training texts (WordPiece for BERT, byte-level BPE for
// Qwen2) and weights drawn at random the way transformers initialises them, written as a normal Hugging
// Face checkpoint (it is also the "untrained" baseline of the evaluation).
import { join } from 'node:path';
import { readRecords } from '../../data/readers.js';
import { recordTexts, validateRecord } from '../../data/records.js';
import type { ModelInitSpec, PipelineConfig } from '../config.js';
import { describeOutputs, digestOf } from '../fingerprint.js';
import { recordSetsOf } from '../record-sets.js';
import { writeJsonAtomic } from '../run-folder.js';
import type { PipelineStep, StepContext } from '../runner.js';

/** config.json of a from-scratch model (extra `config` fields win). Vocabulary size comes from the tokenizer. */
export function modelConfigJson(init: ModelInitSpec, padTokenId: number): Record<string, unknown> {
  const common = {
    hidden_size: init.hiddenSize,
    num_hidden_layers: init.layers,
    num_attention_heads: init.heads,
    intermediate_size: init.intermediateSize,
    max_position_embeddings: init.maxPositions,
    initializer_range: 0.02,
    pad_token_id: padTokenId,
    torch_dtype: 'float32',
  };
  if (init.architecture === 'bert') {
    return {
      architectures: ['BertModel'], model_type: 'bert', ...common,
      hidden_act: 'gelu', hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1, layer_norm_eps: 1e-12,
      type_vocab_size: 2, position_embedding_type: 'absolute',
      ...init.config,
    };
  }
  // QZhou's architecture: a Qwen2 decoder stack with the causal mask removed (bidirectional), mean pooling.
  return {
    architectures: ['Qwen2Model'], model_type: 'qwen2', ...common,
    num_key_value_heads: init.kvHeads ?? init.heads, hidden_act: 'silu', rms_norm_eps: 1e-6, rope_theta: 10000,
    tie_word_embeddings: false, use_sliding_window: false, is_causal: false,
    ...init.config,
  };
}

async function* trainingTexts(ctx: StepContext): AsyncGenerator<string> {
  const sets = [...recordSetsOf(ctx.upstream('transform').summary), ...recordSetsOf(ctx.upstream('synth').summary)];
  for (const set of sets) {
    for await (const { record, file, line } of readRecords(join(ctx.config.output, set.file), { format: 'jsonl' })) {
      yield* recordTexts(validateRecord(record, file, line));
    }
  }
}

export const initStep: PipelineStep = {
  name: 'init',
  title: 'the starting model: a given checkpoint, or a trained tokenizer + random initialisation',
  after: ['transform', 'synth'],
  version: 1,
  async identity(config: PipelineConfig) {
    if (config.model.path) return { checkpoint: await describeOutputs(config.model.path, ['.']), attention: config.model.attention ?? null };
    return { init: config.model.init, attention: config.model.attention ?? null };
  },
  async run(ctx) {
    const { model } = ctx.config;
    if (model.path) {
      // Recorded by content, not path: the same checkpoint moved elsewhere keeps the training steps' fingerprints
      // (the steps read its current path from the config).
      const checkpoint = digestOf(await describeOutputs(model.path, ['.']));
      writeJsonAtomic(join(ctx.dir, 'model.json'), { pretrained: true, checkpoint });
      ctx.log(`starting from the checkpoint ${model.path}`);
      return { outputs: ['model.json'], summary: { model: model.path, pretrained: true }, exports: { checkpoint } };
    }
    const init = model.init!;
    const { trainTokenizer, saveTrainedTokenizer } = await import('../../model/tokenizer-trainer.js');
    const { writeRandomCheckpoint, modelWeightRequests } = await import('../../model/random-init.js');
    const kind = init.architecture === 'bert' ? 'wordpiece' : 'bpe';
    const tokenizerDir = join(ctx.dir, 'tokenizer');
    const tok = await ctx.part('tokenizer', async () => {
      const t0 = Date.now();
      ctx.log(`training a ${kind} tokenizer (vocabulary ${init.tokenizer.vocabSize}) on the training texts`);
      const trained = await trainTokenizer(trainingTexts(ctx), {
        kind,
        vocabSize: init.tokenizer.vocabSize,
        minFrequency: init.tokenizer.minFrequency,
        ...(init.tokenizer.lowercase !== undefined ? { lowercase: init.tokenizer.lowercase } : {}),
        modelMaxLength: init.maxPositions,
      });
      await saveTrainedTokenizer(tokenizerDir, trained);
      const padToken = kind === 'wordpiece' ? '[PAD]' : '<|endoftext|>';
      const added = (trained.tokenizer.added_tokens as { id: number; content: string }[] | undefined) ?? [];
      const pad = added.find((a) => a.content === padToken)?.id ?? 0;
      ctx.log(`tokenizer: ${trained.vocabSize} tokens (${trained.merges} merges) from ${trained.texts.toLocaleString('en-US')} texts in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return { kind, vocabSize: trained.vocabSize, merges: trained.merges, texts: trained.texts, words: trained.words, padTokenId: pad };
    });
    const modelDir = join(ctx.dir, 'model');
    const config = modelConfigJson(init, tok.padTokenId);
    const parsed = await writeRandomCheckpoint(modelDir, { config, tokenizerDir, seed: init.seed, pooling: 'mean', maxSeqLength: init.maxPositions, overwrite: true });
    const params = modelWeightRequests(parsed).reduce((n, r) => n + r.shape.reduce((a, b) => a * b, 1), 0);
    ctx.log(`random ${init.architecture} model: ${init.layers} layers, hidden ${init.hiddenSize}, ${init.heads} heads, vocabulary ${tok.vocabSize} (${(params / 1e6).toFixed(2)}M parameters)`);
    return {
      outputs: ['tokenizer', 'model'],
      exports: { model: 'init/model' },
      summary: { model: 'init/model', pretrained: false, architecture: init.architecture, tokenizer: tok, config, parameters: params },
    };
  },
};

/** The starting model's folder (absolute), from the init step's marker. */
export function initModelDir(config: PipelineConfig, summary: Record<string, unknown>): string {
  return summary.pretrained ? (config.model.path ?? String(summary.model)) : join(config.output, String(summary.model));
}
