// Training logs: a JSONL metrics file (one record per line, appended and flushed as it goes, trimmed
// back to the checkpoint on resume) and a progress display on stderr with per-family loss, learning
// rate, tokens/s and ETA — a redrawn bar on a terminal, plain periodic lines otherwise (CI, files).
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { writeFileAtomicSync } from '../util/atomic-file.js';

// ----------------------------------------------------------------------------------------------
// JSONL metrics file.

export interface MetricsLogOptions {
  /**
   * Resuming from a checkpoint taken after update `keepThroughStep`: records with a larger `step`
   * (written after that checkpoint, before the interruption) are dropped, so the file reads like one
   * uninterrupted run. Records without a numeric `step` are kept.
   */
  keepThroughStep?: number;
}

/** Appends JSON records, one per line. Each record is one write call, so lines never interleave. */
export class MetricsLog {
  readonly path: string;
  private fd: number | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.fd = fd;
  }

  /** Opens (creating if needed) `path` for appending. A partial last line from a crash is removed. */
  static open(path: string, opts: MetricsLogOptions = {}): MetricsLog {
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      const complete = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
      let kept = complete;
      if (opts.keepThroughStep !== undefined) {
        const k = opts.keepThroughStep;
        kept = complete
          .split('\n')
          .filter((line) => {
            if (line === '') return false;
            try {
              const step = (JSON.parse(line) as { step?: unknown }).step;
              return typeof step !== 'number' || step <= k;
            } catch {
              return false; // not a record of ours
            }
          })
          .map((l) => `${l}\n`)
          .join('');
      }
      if (kept !== text) writeFileAtomicSync(path, kept);
    }
    return new MetricsLog(path, openSync(path, 'a'));
  }

  /** Appends one record (non-finite numbers become null, as JSON requires). */
  write(record: Record<string, unknown>): void {
    if (this.fd === undefined) throw new Error(`metrics log ${this.path} is closed`);
    const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
    let off = 0;
    while (off < line.length) off += writeSync(this.fd, line, off, line.length - off);
  }

  /** Forces written records to disk. */
  flush(): void {
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Reads a JSONL metrics file back (for tests and reports). Throws naming the line on bad JSON. */
export function readMetrics(path: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch (e) {
        throw new Error(`${path}:${i + 1}: not a JSON record (${(e as Error).message})`);
      }
    });
  return out;
}

// ----------------------------------------------------------------------------------------------
// Progress display.

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface TrainingProgressOptions {
  /** Steps of the stage (the bar's 100%). */
  total: number;
  /** Shown first, e.g. the stage name. */
  label?: string;
  /** Updates already done when this display starts (resume). */
  startStep?: number;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Milliseconds clock (default performance.now). */
  now?: () => number;
  /** Terminal: least time between redraws. Default 100 ms. */
  redrawMs?: number;
  /** Not a terminal: least time between lines. Default 30 s (the first and last steps always print). */
  lineEveryMs?: number;
  /** Steps in the moving window for rates and ETA. Default 50. */
  window?: number;
  /** Loss smoothing: exponential moving average factor per step of that family. Default 0.9. */
  smoothing?: number;
}

export interface StepReport {
  /** Updates done after this step. */
  step: number;
  /** Task family of the batch (the loss is shown per family). */
  family: string;
  loss: number;
  lr: number;
  /** Tokens processed by this step (forward). */
  tokens?: number;
}

export interface ProgressSnapshot {
  step: number;
  total: number;
  /** Smoothed loss per family. */
  losses: Record<string, number>;
  lr: number;
  /** Over the moving window; undefined until two time points exist. */
  tokensPerSecond: number | undefined;
  secondsPerStep: number | undefined;
  etaSeconds: number | undefined;
  elapsedSeconds: number;
}

export class TrainingProgress {
  private readonly o: Required<Omit<TrainingProgressOptions, 'label' | 'startStep' | 'stream' | 'now'>> & { label: string };
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly tty: boolean;
  private readonly start: number;
  private step: number;
  private lr = 0;
  private readonly ema = new Map<string, { value: number; n: number }>();
  private readonly times: { t: number; step: number; tokens: number }[] = [];
  private lastDraw = -Infinity;
  private barShown = false;
  private finished = false;

  constructor(opts: TrainingProgressOptions) {
    if (!Number.isInteger(opts.total) || opts.total < 0) throw new Error(`TrainingProgress: total must be an integer ≥ 0, got ${opts.total}`);
    this.o = {
      total: opts.total,
      label: opts.label ?? '',
      redrawMs: opts.redrawMs ?? 100,
      lineEveryMs: opts.lineEveryMs ?? 30_000,
      window: Math.max(2, opts.window ?? 50),
      smoothing: opts.smoothing ?? 0.9,
    };
    this.stream = opts.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
    this.step = opts.startStep ?? 0;
    this.times.push({ t: this.start, step: this.step, tokens: 0 });
  }

  /** Records a finished step and redraws (terminal) or prints a line (otherwise) when due. */
  update(r: StepReport): void {
    const t = this.now();
    this.step = r.step;
    this.lr = r.lr;
    if (Number.isFinite(r.loss)) {
      const e = this.ema.get(r.family) ?? { value: 0, n: 0 };
      e.value = this.o.smoothing * e.value + (1 - this.o.smoothing) * r.loss;
      e.n++;
      this.ema.set(r.family, e);
    }
    this.times.push({ t, step: r.step, tokens: r.tokens ?? 0 });
    if (this.times.length > this.o.window + 1) this.times.shift();
    const last = r.step >= this.o.total;
    if (this.tty) {
      if (last || t - this.lastDraw >= this.o.redrawMs) this.drawBar(t);
    } else if (last || this.times.length === 2 || t - this.lastDraw >= this.o.lineEveryMs) {
      this.lastDraw = t;
      this.stream.write(`${this.plainLine()}\n`);
    }
  }

  /** Prints a message that stays (checkpoint saved, evaluation results), keeping the bar below it. */
  log(message: string): void {
    if (this.tty && this.barShown) this.stream.write('\r\x1b[2K');
    this.stream.write(`${message}\n`);
    if (this.tty && this.barShown) this.drawBar(this.now());
  }

  /** Ends the display: the bar becomes a final line. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.tty) {
      if (this.barShown) this.stream.write('\n');
    } else if (this.times.length > 1 && this.lastDraw !== this.times[this.times.length - 1]!.t) {
      this.stream.write(`${this.plainLine()}\n`);
    }
  }

  snapshot(): ProgressSnapshot {
    const first = this.times[0]!;
    const last = this.times[this.times.length - 1]!;
    const dt = (last.t - first.t) / 1000;
    const steps = last.step - first.step;
    let tokens = 0;
    for (let i = 1; i < this.times.length; i++) tokens += this.times[i]!.tokens;
    const secondsPerStep = steps > 0 && dt > 0 ? dt / steps : undefined;
    const losses: Record<string, number> = {};
    for (const [family, e] of this.ema) losses[family] = e.value / (1 - Math.pow(this.o.smoothing, e.n));
    return {
      step: this.step,
      total: this.o.total,
      losses,
      lr: this.lr,
      tokensPerSecond: dt > 0 && this.times.length > 1 ? tokens / dt : undefined,
      secondsPerStep,
      etaSeconds: secondsPerStep === undefined ? undefined : Math.max(0, this.o.total - this.step) * secondsPerStep,
      elapsedSeconds: (this.now() - this.start) / 1000,
    };
  }

  /** Display fields, most important first. */
  private fields(): { text: string; optional: boolean }[] {
    const s = this.snapshot();
    const pct = s.total > 0 ? ((100 * s.step) / s.total).toFixed(1) : '100.0';
    const losses = Object.entries(s.losses)
      .map(([f, v]) => `${f} ${v.toFixed(4)}`)
      .join(' ');
    const f: { text: string; optional: boolean }[] = [{ text: `${s.step}/${s.total} ${pct}%`, optional: false }];
    if (losses) f.push({ text: `loss ${losses}`, optional: false });
    f.push({ text: `lr ${formatLr(s.lr)}`, optional: false });
    if (s.tokensPerSecond !== undefined) f.push({ text: `${formatCount(s.tokensPerSecond)} tok/s`, optional: true });
    if (s.secondsPerStep !== undefined) f.push({ text: formatStepTime(s.secondsPerStep), optional: true });
    if (s.etaSeconds !== undefined) f.push({ text: `ETA ${formatDuration(s.etaSeconds)}`, optional: false });
    return f;
  }

  private plainLine(): string {
    const fields = this.fields().map((f) => f.text);
    return `${this.o.label ? `[${this.o.label}] ` : ''}step ${fields.join(' | ')} | elapsed ${formatDuration(this.snapshot().elapsedSeconds)}`;
  }

  private drawBar(t: number): void {
    this.lastDraw = t;
    const cols = Math.max(20, (this.stream.columns ?? 100) - 1);
    const label = this.o.label ? `${this.o.label} ` : '';
    let fields = this.fields();
    // Narrow terminal: drop the optional fields (rates) before giving up the bar.
    let text = fields.map((f) => f.text).join(' │ ');
    while (cols - label.length - text.length - 3 < 10 && fields.some((f) => f.optional)) {
      const i = fields.map((f) => f.optional).lastIndexOf(true);
      fields = fields.filter((_, j) => j !== i);
      text = fields.map((f) => f.text).join(' │ ');
    }
    const barWidth = Math.min(30, cols - label.length - text.length - 3);
    let line: string;
    if (barWidth >= 10) {
      const frac = this.o.total > 0 ? Math.min(1, this.step / this.o.total) : 1;
      const filled = Math.round(frac * barWidth);
      line = `${label}[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${text}`;
    } else {
      line = `${label}${text}`;
    }
    if (line.length > cols) line = `${line.slice(0, cols - 1)}…`;
    this.stream.write(`\r\x1b[2K${line}`);
    this.barShown = true;
  }
}

/** 45s, 3m05s, 1h02m, 2d03h. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

/** 250 ms/step, 1.25 s/step, 42 s/step. */
export function formatStepTime(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms/step`;
  return `${seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(0)} s/step`;
}

/** 950, 12.3k, 4.56M. */
export function formatCount(n: number): string {
  if (n < 1000) return n.toFixed(0);
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 2 : 1)}k`;
  return `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)}M`;
}

/** 3.00e-5 style. */
export function formatLr(lr: number): string {
  return lr === 0 ? '0' : lr.toExponential(2);
}
