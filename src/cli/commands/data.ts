// `qzhou data transform|inspect`: a thin layer over src/data (transformFiles, inspectFiles).
import { tryStat } from '../../util/paths.js';
import { checkOutputPath, optionalIntFlag, parseFlags, requireFlag, UsageError, type Command } from '../command.js';
import {
  ContaminationIndex,
  findSplitFiles,
  formatInspectReport,
  inspectFiles,
  loadTokenCounter,
  parseAssignments,
  sumValues,
  transformFiles,
  TRANSFORMS,
  type DedupMode,
  type InvalidTextPolicy,
  type ReadOptions,
  type RecordFormat,
  type TextEncoding,
  type TransformReport,
  type TransformType,
} from '../../data/index.js';

const transformUsage = `usage: qzhou data transform --type T --input F [--input F2 ...] --output O.jsonl[.gz] [options]

Turns source data into canonical records (retrieval / pair / cls JSONL).

Types (roles and their default columns; --map role=column to change, dotted paths for nested fields):
${Object.entries(TRANSFORMS)
  .map(([t, s]) => `  ${t.padEnd(22)} ${s.summary}${Object.keys(s.roles).length ? `\n  ${''.padEnd(22)} roles: ${Object.entries(s.roles).map(([r, spec]) => `${r}=${spec.columns.join('|')}${spec.required ? '' : '?'}`).join(' ')}` : ''}`)
  .join('\n')}
  every type also reads optional roles dataset=dataset and instruction=instruction.

Input:
  --input F             a file (.jsonl/.ndjson/.json/.csv/.tsv/.parquet, optionally .gz) or a Hugging Face
                        dataset folder (its --split files are used); repeatable
  --split S             split to take from folder inputs (default train)
  --format F            jsonl | json | csv | tsv | parquet (default: from the extension)
  --delimiter D         CSV/TSV separator (\\t for tab)
  --columns a,b,c       the file has no header row; these are its column names
  --no-header           no header row; columns are named 0, 1, 2, ...
  --no-quote            CSV/TSV: no quote handling, split on the delimiter only (STS-B)
  --field PATH          JSON: the array of records inside a top-level object
  --encoding E          auto (UTF-8, or UTF-16 by BOM) | utf-8 | utf-16le | utf-16be | latin1
  --invalid-text P      invalid UTF-8: replace (U+FFFD, warning; default) | latin1 | error

Transformation:
  --map role=column     repeatable, or comma-separated
  --dataset NAME        dataset name on every record (batches never mix datasets)
  --instruction TEXT    instruction on every record
  --connector TEXT      reading comprehension: between context and question
                        (default "\\n请阅读上述文章，回答下列问题：")
  --label-map k=v,...   nli/binary: label → score, replacing the defaults
                        (nli: entailment=2 neutral=1 contradiction=0, and 0=2 1=1 2=0 as in SNLI/MNLI)
  --one-order           pairs: do not add the swapped copy
  --no-provenance       drop source fields that no role used

Filters:
  --on-error skip|fail  a bad record stops the job (fail, default) or is skipped and counted
  --dedup MODE          none (default) | exact | normalized (NFKC, case, punctuation, whitespace)
  --dedup-per-dataset   duplicates only within the same dataset
  --tokenizer DIR       model folder whose tokenizer counts tokens for the length filters
  --min-tokens N, --max-tokens N, --max-query-tokens N, --max-doc-tokens N
  --decontaminate F     evaluation file or folder (its test split) whose texts must not appear; repeatable
  --eval-split S        split to take from --decontaminate folders (default test)
  --eval-field NAME     only these fields of evaluation records (default: every string); repeatable
  --ngram N             n-gram length for the overlap check (default 13; 0 = exact match only)

Run:
  --restart             ignore a checkpoint of an interrupted run (default: resume it)
  --json                print the report as JSON on stdout
  --quiet               no progress on stderr

Example (STS-B train → pair records, both orders):
  qzhou data transform --type sts --input data/stsbenchmark/sts-train.csv --format tsv --no-quote \\
    --columns genre,file,year,id,score,sentence1,sentence2 --dataset stsb --output stsb-train.jsonl`;

const inspectUsage = `usage: qzhou data inspect FILE... [--tokenizer DIR] [--format F] [--json]

Counts canonical records per type and dataset, length distributions per field (characters, and
tokens with --tokenizer), label and score distributions, negatives per query and duplicates.
--format (jsonl, json, csv, tsv, parquet) overrides the format the extension names. Exits 1 when
some lines are not valid canonical records.`;

const usage = `usage: qzhou data <transform|inspect> [options]

  transform   source data → canonical retrieval / pair / cls JSONL (validation, dedup, filters)
  inspect     statistics of canonical record files

Run \`qzhou data <subcommand> --help\` for its options.

${transformUsage}

${inspectUsage}`;

function expandInputs(inputs: string[], split: string, flag = '--input'): string[] {
  const out: string[] = [];
  for (const p of inputs) {
    const st = tryStat(p);
    if (!st) throw new UsageError(`${flag} ${p}: no such file or folder`);
    if (st.isDirectory()) {
      const files = findSplitFiles(p, split);
      if (!files.length) throw new UsageError(`${flag} ${p}: no data files for split "${split}" in this folder`);
      out.push(...files);
    } else out.push(p);
  }
  return out;
}

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${flag}: expected one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}


function summary(r: TransformReport): string {
  const lines = [
    `read ${r.read.toLocaleString('en-US')} source records${r.resumedAt ? ` (resumed after ${r.resumedAt.toLocaleString('en-US')})` : ''}; wrote ${r.written.toLocaleString('en-US')} records to ${r.output} (retrieval ${r.byType.retrieval}, pair ${r.byType.pair}, cls ${r.byType.cls}) in ${r.seconds.toFixed(1)} s`,
  ];
  const skipped = Object.entries(r.skipped);
  if (skipped.length) lines.push(`skipped ${sumValues(r.skipped)}: ${skipped.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const warnings = Object.entries(r.warnings);
  if (warnings.length) lines.push(`warnings: ${warnings.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (r.textsRemoved) lines.push(`positives/negatives removed by the length filter: ${r.textsRemoved}`);
  for (const e of r.examples) lines.push(`  ${e}`);
  return lines.join('\n');
}

async function runTransform(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, {
    type: { type: 'string' },
    input: { type: 'string', multiple: true },
    split: { type: 'string' },
    output: { type: 'string' },
    format: { type: 'string' },
    delimiter: { type: 'string' },
    columns: { type: 'string' },
    'no-header': { type: 'boolean' },
    'no-quote': { type: 'boolean' },
    field: { type: 'string' },
    encoding: { type: 'string' },
    'invalid-text': { type: 'string' },
    map: { type: 'string', multiple: true },
    dataset: { type: 'string' },
    instruction: { type: 'string' },
    connector: { type: 'string' },
    'label-map': { type: 'string', multiple: true },
    'one-order': { type: 'boolean' },
    'no-provenance': { type: 'boolean' },
    'on-error': { type: 'string' },
    dedup: { type: 'string' },
    'dedup-per-dataset': { type: 'boolean' },
    tokenizer: { type: 'string' },
    'min-tokens': { type: 'string' },
    'max-tokens': { type: 'string' },
    'max-query-tokens': { type: 'string' },
    'max-doc-tokens': { type: 'string' },
    decontaminate: { type: 'string', multiple: true },
    'eval-split': { type: 'string' },
    'eval-field': { type: 'string', multiple: true },
    ngram: { type: 'string' },
    restart: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
  });
  if (v.help) {
    console.log(transformUsage);
    return 0;
  }
  const type = oneOf('type', requireFlag('type', v.type), Object.keys(TRANSFORMS) as TransformType[])!;
  if (!v.input?.length) throw new UsageError('--input is required');
  const output = requireFlag('output', v.output);
  if (!/\.(jsonl|ndjson)(\.gz)?$/i.test(output)) throw new UsageError(`--output ${output}: canonical records are JSONL; name the file .jsonl or .jsonl.gz`);
  const inputs = expandInputs(v.input, v.split ?? 'train');
  checkOutputPath('--output', output, { inputs });

  const read: ReadOptions = {};
  read.format = oneOf<RecordFormat>('format', v.format, ['jsonl', 'json', 'csv', 'tsv', 'parquet']);
  if (v.delimiter !== undefined) read.delimiter = v.delimiter.replace(/\\t/g, '\t');
  if (v.columns !== undefined && v['no-header']) throw new UsageError('--columns and --no-header exclude each other');
  if (v.columns !== undefined) read.header = v.columns.split(',').map((s) => s.trim());
  if (v['no-header']) read.header = false;
  if (v['no-quote']) read.quote = false;
  if (v.field !== undefined) read.field = v.field;
  read.encoding = oneOf<TextEncoding>('encoding', v.encoding, ['auto', 'utf-8', 'utf-16le', 'utf-16be', 'latin1']);
  read.invalidText = oneOf<InvalidTextPolicy>('invalid-text', v['invalid-text'], ['replace', 'latin1', 'error']);
  for (const k of Object.keys(read) as (keyof ReadOptions)[]) if (read[k] === undefined) delete read[k];

  let map: Record<string, string> | undefined;
  let labelMap: Record<string, number> | undefined;
  try {
    map = v.map ? parseAssignments(v.map, '--map') : undefined;
    if (v['label-map']) {
      labelMap = {};
      for (const [k, s] of Object.entries(parseAssignments(v['label-map'], '--label-map'))) {
        const n = Number(s);
        if (!Number.isFinite(n)) throw new Error(`--label-map: score for "${k}" is not a number: "${s}"`);
        labelMap[k] = n;
      }
    }
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const onError = oneOf('on-error', v['on-error'], ['skip', 'fail'] as const) ?? 'fail';
  const dedupMode = oneOf<DedupMode>('dedup', v.dedup, ['none', 'exact', 'normalized']) ?? 'none';

  const min = optionalIntFlag('min-tokens', v['min-tokens'], 0);
  const max = optionalIntFlag('max-tokens', v['max-tokens'], 0);
  const maxQuery = optionalIntFlag('max-query-tokens', v['max-query-tokens'], 0);
  const maxDoc = optionalIntFlag('max-doc-tokens', v['max-doc-tokens'], 0);
  const wantsLength = [min, max, maxQuery, maxDoc].some((x) => x !== undefined);
  if (wantsLength && !v.tokenizer) throw new UsageError('token length limits need --tokenizer DIR');
  const countTokens = v.tokenizer ? await loadTokenCounter(v.tokenizer) : undefined;

  let contamination: ContaminationIndex | undefined;
  if (v.decontaminate?.length) {
    const evalFiles = expandInputs(v.decontaminate, v['eval-split'] ?? 'test', '--decontaminate');
    const ngram = optionalIntFlag('ngram', v.ngram, 0);
    if (!v.quiet) process.stderr.write(`data transform: indexing ${evalFiles.length} evaluation file(s)…\n`);
    contamination = await ContaminationIndex.fromFiles(evalFiles, { ngram, fields: v['eval-field'] });
    if (!v.quiet) process.stderr.write(`data transform: ${contamination.texts.toLocaleString('en-US')} evaluation texts, ${contamination.ngrams.toLocaleString('en-US')} n-grams\n`);
  }

  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  let report: TransformReport;
  try {
    report = await transformFiles({
      inputs,
      output,
      read,
      transform: {
        type,
        map,
        dataset: v.dataset,
        instruction: v.instruction,
        connector: v.connector,
        labelMap,
        bothOrders: !v['one-order'],
        provenance: !v['no-provenance'],
      },
      onError,
      dedup: dedupMode === 'none' ? undefined : { mode: dedupMode, perDataset: !!v['dedup-per-dataset'] },
      length: wantsLength && countTokens ? { countTokens, min, max, maxQuery, maxDoc } : undefined,
      contamination,
      resume: !v.restart,
      fingerprint: { tokenizer: v.tokenizer ?? null, decontaminate: v.decontaminate ?? null, evalFields: v['eval-field'] ?? null },
      signal: controller.signal,
      onProgress: v.quiet
        ? undefined
        : (p) => process.stderr.write(`data transform: ${p.read.toLocaleString('en-US')} read, ${p.written.toLocaleString('en-US')} written, ${p.skipped.toLocaleString('en-US')} skipped (${Math.round(p.read / p.seconds).toLocaleString('en-US')}/s)\n`),
    });
  } catch (e) {
    if (controller.signal.aborted) {
      process.stderr.write('data transform: interrupted; run the same command again to resume from the last checkpoint\n');
      return 130;
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (v.json) console.log(JSON.stringify(report, null, 2));
  if (!v.quiet || !v.json) process.stderr.write(summary(report) + '\n');
  return 0;
}

async function runInspect(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseFlags(argv, { tokenizer: { type: 'string' }, json: { type: 'boolean' }, format: { type: 'string' } }, true);
  if (v.help) {
    console.log(inspectUsage);
    return 0;
  }
  if (!positionals.length) throw new UsageError('inspect: give at least one file');
  for (const p of positionals) {
    const st = tryStat(p);
    if (!st?.isFile()) throw new UsageError(`inspect: ${p}: ${st ? 'is a folder; give a file' : 'no such file'}`);
  }
  const countTokens = v.tokenizer ? await loadTokenCounter(v.tokenizer) : undefined;
  const format = oneOf<RecordFormat>('format', v.format, ['jsonl', 'json', 'csv', 'tsv', 'parquet']);
  const report = await inspectFiles(positionals, { countTokens, read: format ? { format } : undefined });
  console.log(v.json ? JSON.stringify(report, (_, x) => (x === Infinity ? 'Infinity' : x), 2) : formatInspectReport(report));
  return report.invalid > 0 ? 1 : 0;
}

export const command: Command = {
  name: 'data',
  summary: 'transform source data into canonical records; inspect record files',
  usage,
  subcommandUsage: { transform: transformUsage, inspect: inspectUsage },
  async run(argv) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'transform':
        return runTransform(rest);
      case 'inspect':
        return runInspect(rest);
      default:
        throw new UsageError(sub ? `data: unknown subcommand "${sub}" (transform, inspect)` : 'data: give a subcommand (transform, inspect)');
    }
  },
};
