// `qzhou train`: runs the stages of a training config (a thin layer over src/train's runTraining), and
// `qzhou train tokenizer` trains a tokenizer for a model built from scratch.
import { resolve } from 'node:path';
import { checkOutputPath, inputFileFlag, numberFlag, outputFlag, parseFlags, requireFlag, UsageError, type Command } from '../command.js';

const usage = `usage: qzhou train --config FILE [--output DIR] [--resume] [--set PATH=VALUE ...] [options]
       qzhou train tokenizer --input FILE [--input FILE ...] --output DIR [options]
       qzhou train init --config FILE --output DIR [--set PATH=VALUE ...] [--overwrite]

Trains an embedding model (QZhou-Embedding's recipe): the config's stages in order — stage 1 retrieval
only, stage 2 all task families — with GradCache steps on the ONNX graph model, AdamW, per-family losses,
checkpoints in Hugging Face layout and a final model in <output>/model (load it with qzhou eval/embed/serve).

Training:
  --config FILE       training config (.yaml, .yml or .json; see docs/train.md)
  --output DIR        output folder (overrides the config's "output")
  --resume            continue from the latest checkpoint in the output folder (same config required)
  --set PATH=VALUE    override a config field, e.g. --set stages[0].steps=100 (repeatable; YAML values)
  --threads N         ONNX Runtime threads (default: all cores)
  --cache DIR         cache for ORT model files and converted weights (default $QZHOU_CACHE or ~/.cache/qzhou)
  --quiet             no progress output
  Ctrl-C finishes the current step, writes a checkpoint and exits (130); --resume continues from it.

Tokenizer (for models trained from scratch; writes tokenizer.json + tokenizer_config.json):
  --input FILE        records to read texts from (.jsonl/.json/.csv/.tsv/.parquet, optionally .gz); repeatable
  --output DIR        folder to write the tokenizer into
  --kind K            bpe (byte-level BPE, Qwen2-style; default) or wordpiece (BERT-style)
  --vocab-size N      vocabulary size with special tokens and alphabet (default 8000)
  --min-frequency N   least count of a pair to merge (default 2)
  --field NAME        text field(s) to read (repeatable; default: every text of canonical records, else "text")
  --lowercase / --no-lowercase   (default: lowercase for wordpiece only)
  --max-length N      model_max_length in tokenizer_config.json (default 512)

Starting model (the untrained baseline of a from-scratch run):
  qzhou train init --config FILE --output DIR   writes the config's model.init (random weights from its
                      seed, its tokenizer) as a Hugging Face checkpoint: what training starts from
  --set PATH=VALUE    as for training; --overwrite replaces an existing output folder

Examples:
  qzhou train tokenizer --input banking77-train.jsonl --kind bpe --vocab-size 8000 --output runs/b77/tokenizer
  qzhou train --config banking77.yaml
  qzhou train --config train.yaml --resume --set stages[1].eval.every=500`;

export const command: Command = {
  name: 'train',
  summary: 'train an embedding model from a stage config (GradCache, LoRA, resume), or a tokenizer',
  usage,
  async run(argv) {
    if (argv[0] === 'tokenizer') return trainTokenizerCommand(argv.slice(1));
    if (argv[0] === 'init') return initModelCommand(argv.slice(1));
    const { values, positionals } = parseFlags(argv, {
      config: { type: 'string' },
      output: { type: 'string' },
      resume: { type: 'boolean' },
      set: { type: 'string', multiple: true },
      threads: { type: 'string' },
      cache: { type: 'string' },
      quiet: { type: 'boolean' },
    }, true);
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (did you mean \`qzhou train tokenizer\`?)`);
    const configPath = requireFlag('config', values.config);
    const threads = values.threads === undefined ? undefined : numberFlag('threads', values.threads, 0);
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new UsageError(`--threads: expected a positive integer, got "${values.threads}"`);
    const { loadTrainConfig, runTraining, ConfigError } = await import('../../train/index.js');
    let config;
    try {
      config = loadTrainConfig(configPath, { overrides: values.set ?? [] });
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(`qzhou train: invalid config:\n${e.message}`);
        return 1;
      }
      throw e;
    }
    if (values.output !== undefined) config.output = resolve(values.output);
    checkOutputPath(values.output !== undefined ? '--output' : `${configPath}: output`, config.output, { kind: 'folder' });

    // First Ctrl-C: finish the step, checkpoint, exit 130. Second: stop at once.
    const abort = new AbortController();
    const onSigint = () => {
      if (abort.signal.aborted) process.exit(130);
      abort.abort();
      process.stderr.write('\nqzhou train: finishing the current step and writing a checkpoint (Ctrl-C again to stop now)\n');
    };
    process.on('SIGINT', onSigint);
    try {
      const r = await runTraining(config, { resume: values.resume ?? false, threads, cacheDir: values.cache, quiet: values.quiet ?? false, signal: abort.signal });
      if (r.interrupted) return 130;
      if (!values.quiet) {
        for (const s of r.stages) {
          const losses = Object.entries(s.meanLoss).map(([f, v]) => `${f} ${v!.toFixed(4)}`).join(', ');
          console.error(`${s.name}: ${s.steps} steps${losses ? `, mean loss ${losses}` : ''}${s.checkpoint ? ` → ${s.checkpoint}` : ''}`);
        }
      }
      console.log(r.modelDir);
      return 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};

async function initModelCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { config: { type: 'string' }, output: { type: 'string' }, set: { type: 'string', multiple: true }, overwrite: { type: 'boolean' } }, true);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const configPath = requireFlag('config', values.config);
  const output = resolve(outputFlag('output', values.output, { kind: 'folder' }));
  const { loadTrainConfig, ConfigError, openModelSource, initialWeights, GraphEncoder } = await import('../../train/index.js');
  let config;
  try {
    config = loadTrainConfig(configPath, { overrides: values.set ?? [] });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`qzhou train init: invalid config:\n${e.message}`);
      return 1;
    }
    throw e;
  }
  if (!config.model.init) throw new UsageError(`${configPath}: model has no "init" (it starts from the checkpoint ${config.model.path}, which is its own baseline)`);
  const src = await openModelSource(config.model);
  const stage = config.stages[0]!;
  const enc = new GraphEncoder({
    config: src.config, tokenizer: src.tokenizer, tokenizerDir: src.tokenizerDir, pooling: src.pooling,
    mode: { kind: 'full', weights: await initialWeights(src, config.model) }, maxLength: { query: stage.maxLength.query, passage: stage.maxLength.passage },
  });
  try {
    await enc.save(output, { overwrite: values.overwrite ?? false });
  } finally {
    await enc.close();
  }
  console.log(output);
  return 0;
}

async function trainTokenizerCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    input: { type: 'string', multiple: true },
    output: { type: 'string' },
    kind: { type: 'string' },
    'vocab-size': { type: 'string' },
    'min-frequency': { type: 'string' },
    field: { type: 'string', multiple: true },
    lowercase: { type: 'boolean' },
    'no-lowercase': { type: 'boolean' },
    'max-length': { type: 'string' },
    quiet: { type: 'boolean' },
  }, true);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const inputs = values.input ?? [];
  if (!inputs.length) throw new UsageError('--input is required (records to read texts from)');
  const output = requireFlag('output', values.output);
  const kind = values.kind ?? 'bpe';
  if (kind !== 'bpe' && kind !== 'wordpiece') throw new UsageError(`--kind: expected bpe or wordpiece, got "${kind}"`);
  if (values.lowercase && values['no-lowercase']) throw new UsageError('give --lowercase or --no-lowercase, not both');
  for (const input of inputs) inputFileFlag('input', input);
  checkOutputPath('--output', output, { kind: 'folder' });
  const positive = (name: string, v: string | undefined, fallback: number) => {
    const n = numberFlag(name, v, fallback);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name}: expected a positive integer, got "${v}"`);
    return n;
  };
  const { trainTokenizer, saveTrainedTokenizer } = await import('../../model/tokenizer-trainer.js');
  const { recordTexts } = await import('../../train/index.js');
  const quiet = values.quiet ?? false;
  const t0 = performance.now();
  const vocabSize = positive('vocab-size', values['vocab-size'], 8000);
  const trained = await trainTokenizer(recordTexts(inputs, values.field), {
    kind,
    vocabSize,
    minFrequency: positive('min-frequency', values['min-frequency'], 2),
    lowercase: values.lowercase ? true : values['no-lowercase'] ? false : undefined,
    modelMaxLength: positive('max-length', values['max-length'], 512),
    onProgress: quiet || !process.stderr.isTTY ? undefined : (phase, done, total) => process.stderr.write(`\r${phase === 'count' ? `reading: ${done} texts` : `merging: ${done}/${total}`}   `),
  });
  // The alphabet (BPE: 256 bytes; WordPiece: the data's characters) and special tokens come first, so a
  // smaller size cannot be honoured: refuse it instead of writing a tokenizer of another size.
  if (trained.vocabSize > vocabSize) {
    throw new UsageError(`--vocab-size ${vocabSize}: the alphabet and special tokens alone take ${trained.vocabSize - trained.merges} tokens for this ${kind} tokenizer; give at least that`);
  }
  await saveTrainedTokenizer(resolve(output), trained);
  if (!quiet) {
    if (process.stderr.isTTY) process.stderr.write(`\r${' '.repeat(40)}\r`);
    console.error(`${kind} tokenizer: ${trained.vocabSize} tokens (${trained.merges} merges) from ${trained.texts} texts, ${trained.words} distinct words, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  console.log(resolve(output));
  return 0;
}
