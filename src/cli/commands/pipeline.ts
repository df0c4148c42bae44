// `qzhou pipeline`: raw data → synthesis → mining → stage 1 → stage 2 → evaluation → report, in a run
// folder where finished steps are reused and an interrupted step resumes (a thin layer over src/pipeline).
import { relative } from 'node:path';
import { checkOutputPath, parseFlags, requireFlag, UsageError, type Command } from '../command.js';

const usage = `usage: qzhou pipeline --config FILE [--output DIR] [--set PATH=VALUE ...] [options]

Runs the whole QZhou-Embedding recipe from one config: transform raw sources into canonical records →
synthesise with an LLM (only when an endpoint is configured; otherwise skipped with a notice) → mine hard
negatives → initialise the model (train a tokenizer + random weights, or start from a checkpoint) →
stage 1 (retrieval) → stage 2 (retrieval + pairs + classification) → evaluate (MTEB protocol, against
the untrained model and TF-IDF) → report (report.html + report.md with SVG plots).

Every step writes to its own folder of the run folder and finishes with a _DONE.json marker. Running the
same command again reuses finished steps whose inputs are unchanged and resumes an interrupted step
(after Ctrl-C, a crash or a kill) where it stopped.

Options:
  --config FILE       pipeline config (.yaml/.yml/.json; see docs/pipeline.md)
  --output DIR        run folder (default: the config's "output", else runs/<name>)
  --set PATH=VALUE    override a config field, e.g. --set train.stage1.steps=50 (repeatable; YAML values)
  --force STEPS       rerun these steps (comma-separated) and the steps that use their outputs
  --until STEP        stop after this step
  --plan              show which steps would run or be reused, and why; run nothing
  --json              print the result (steps, statuses, times, report path) as JSON on stdout
  Ctrl-C stops after the current unit of work (a training step is checkpointed); a second Ctrl-C quits at once.

Steps: transform, synth, mine, init, stage1, stage2, eval, report

Example (the embedded demo: Banking77 + STS-B from data/, a small model from scratch on CPU):
  qzhou pipeline --config examples/banking77/pipeline.yaml
  open runs/banking77/report/report.html`;

function stepList(flag: string, value: string | undefined, names: readonly string[]): string[] {
  if (value === undefined) return [];
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of list) if (!names.includes(s)) throw new UsageError(`--${flag}: unknown step "${s}" (steps: ${names.join(', ')})`);
  return list;
}

export const command: Command = {
  name: 'pipeline',
  summary: 'the whole recipe from raw data to an evaluated model and a report (resumable)',
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      config: { type: 'string' },
      output: { type: 'string' },
      set: { type: 'string', multiple: true },
      force: { type: 'string' },
      until: { type: 'string' },
      plan: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    const configPath = requireFlag('config', values.config);
    const p = await import('../../pipeline/index.js');
    const force = stepList('force', values.force, p.STEP_NAMES) as import('../../pipeline/index.js').StepName[];
    const until = stepList('until', values.until, p.STEP_NAMES);
    if (until.length > 1) throw new UsageError('--until: give one step');
    let config;
    try {
      config = p.loadPipelineConfig(configPath, { overrides: values.set ?? [], ...(values.output !== undefined ? { output: values.output } : {}) });
    } catch (e) {
      if (e instanceof p.PipelineConfigError) {
        console.error(`qzhou pipeline: invalid config:\n${e.message}`);
        return 1;
      }
      throw e;
    }
    checkOutputPath(values.output !== undefined ? '--output' : `${configPath}: output`, config.output, { kind: 'folder' });
    const runOpts = { force, ...(until[0] ? { until: until[0] as import('../../pipeline/index.js').StepName } : {}) };

    if (values.plan) {
      const plan = await p.planPipeline(config, runOpts);
      if (values.json) console.log(JSON.stringify({ folder: config.output, steps: plan }, null, 2));
      else {
        console.log(`run folder: ${config.output}`);
        for (const s of plan) console.log(`  ${s.step.padEnd(10)} ${s.action === 'reuse' ? 'reuse' : 'run  '}  ${s.reason}`);
      }
      return 0;
    }

    const abort = new AbortController();
    const onSigint = () => {
      if (abort.signal.aborted) process.exit(130);
      abort.abort();
      process.stderr.write('\nqzhou pipeline: stopping after the current unit of work (Ctrl-C again to quit now); run the same command to resume\n');
    };
    process.on('SIGINT', onSigint);
    try {
      const result = await p.runPipeline(config, { ...runOpts, signal: abort.signal });
      const report = result.steps.find((s) => s.step === 'report' && s.marker);
      const reportPath = report ? `${config.output}/report/report.html` : null;
      if (values.json) {
        console.log(JSON.stringify({
          folder: result.folder,
          report: reportPath,
          steps: result.steps.map((s) => ({ step: s.step, status: s.status, resumed: s.resumed, seconds: s.seconds, notice: s.notice ?? null, summary: s.marker?.summary ?? null })),
        }, null, 2));
      } else {
        const lines = ['', 'step        status    time      note'];
        for (const s of result.steps) {
          lines.push(`${s.step.padEnd(11)} ${(s.resumed ? 'resumed' : s.status).padEnd(9)} ${(s.status === 'ran' ? `${s.seconds.toFixed(1)} s` : '–').padEnd(9)} ${s.notice ?? ''}`.trimEnd());
        }
        const ev = result.steps.find((s) => s.step === 'eval')?.marker?.summary.rows as { model: string; task: string; split: string; metric: string; score: number }[] | undefined;
        if (ev?.length) {
          lines.push('', 'evaluation (main score × 100):');
          for (const r of ev) lines.push(`  ${r.model.padEnd(24)} ${`${r.task} (${r.split})`.padEnd(40)} ${r.metric.padEnd(16)} ${(100 * r.score).toFixed(2)}`);
        }
        const trained = result.steps.find((s) => s.step === 'stage2')?.marker?.summary.model;
        if (typeof trained === 'string') lines.push('', `trained model: ${config.output}/${trained}  (serve it: qzhou serve --model ${config.output}/${trained})`);
        console.error(lines.join('\n'));
        if (reportPath) {
          const rel = relative(process.cwd(), reportPath);
          console.log(`report: ${rel.startsWith('..') ? reportPath : rel}`);
        }
      }
      return 0;
    } catch (e) {
      if (e instanceof p.PipelineInterrupted) {
        console.error(`qzhou pipeline: ${e.message}`);
        return 130;
      }
      if (e instanceof p.RunLockedError) {
        console.error(`qzhou pipeline: ${e.message}`);
        return 1;
      }
      throw e;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
