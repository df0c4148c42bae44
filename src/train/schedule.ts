// Learning-rate schedules: linear warmup, then constant, linear or cosine decay, with the formulas of
// Hugging Face transformers' get_constant_schedule_with_warmup, get_linear_schedule_with_warmup,
// get_cosine_schedule_with_warmup and get_cosine_with_min_lr_schedule_with_warmup.
// `step` is the number of optimizer updates already done (the scheduler's counter): the first update
// uses step 0, exactly as transformers' Trainer (so with warmup > 0 the first update has lr 0).

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['constant', 'linear', 'cosine'];

export interface ScheduleOptions {
  kind: ScheduleKind;
  /** Peak learning rate. */
  lr: number;
  /** Warmup updates (linear from 0 to lr). */
  warmup: number;
  /** Total updates (end of decay). Required for linear and cosine. */
  total: number;
  /** Cosine only: number of cosine cycles (transformers' num_cycles). Default 0.5 (one half-cosine to 0). */
  cycles?: number;
  /** Cosine only: floor as a fraction of lr (transformers' min_lr_rate). Default 0. */
  minLrRatio?: number;
}

/** The multiplier on the peak lr at `step` (transformers' lr_lambda). */
export function lrMultiplier(step: number, o: ScheduleOptions): number {
  if (step < o.warmup) return step / Math.max(1, o.warmup);
  switch (o.kind) {
    case 'constant':
      return 1;
    case 'linear':
      return Math.max(0, (o.total - step) / Math.max(1, o.total - o.warmup));
    case 'cosine': {
      const cycles = o.cycles ?? 0.5;
      const minRatio = o.minLrRatio ?? 0;
      const progress = (step - o.warmup) / Math.max(1, o.total - o.warmup);
      let factor = 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress));
      factor = factor * (1 - minRatio) + minRatio;
      return Math.max(0, factor);
    }
  }
}

/** Checks options and returns a function step → learning rate. */
export function makeSchedule(o: ScheduleOptions): (step: number) => number {
  validateSchedule(o);
  return (step: number) => o.lr * lrMultiplier(step, o);
}

export function validateSchedule(o: ScheduleOptions): void {
  if (!SCHEDULE_KINDS.includes(o.kind)) throw new Error(`schedule: kind must be one of ${SCHEDULE_KINDS.join(', ')}, got ${JSON.stringify(o.kind)}`);
  if (!(o.lr >= 0) || !Number.isFinite(o.lr)) throw new Error(`schedule: lr must be a finite number ≥ 0, got ${o.lr}`);
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw new Error(`schedule: warmup must be an integer ≥ 0, got ${o.warmup}`);
  if (!Number.isInteger(o.total) || o.total < 0) throw new Error(`schedule: total must be an integer ≥ 0, got ${o.total}`);
  if (o.cycles !== undefined && !(o.cycles > 0)) throw new Error(`schedule: cycles must be positive, got ${o.cycles}`);
  if (o.minLrRatio !== undefined && !(o.minLrRatio >= 0 && o.minLrRatio <= 1)) throw new Error(`schedule: minLrRatio must be in [0, 1], got ${o.minLrRatio}`);
  if (o.kind !== 'cosine' && (o.cycles !== undefined || o.minLrRatio !== undefined)) throw new Error(`schedule: cycles and minLrRatio apply to the cosine schedule only`);
}
