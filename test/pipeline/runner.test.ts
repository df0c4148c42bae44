// The step runner with small stand-in steps: reuse, the fingerprint chain, resume-in-place vs clean
// restart, forced steps, --until, the lock, and what is (not) left on disk when a step fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunFolder, RunLockedError, StepFailedError, planSteps, runSteps, type PipelineConfig, type PipelineStep, type StepName } from '../../src/pipeline/index.js';

interface Harness {
  config: PipelineConfig;
  steps: PipelineStep[];
  runs: Record<string, number>;
  settings: Record<string, unknown>;
  /** Make a step fail (once) after writing part of its work. */
  failOnce: Set<string>;
  dir: string;
}

function harness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-runner-'));
  const h: Harness = { config: { output: dir } as PipelineConfig, steps: [], runs: {}, settings: { a: 1, b: 1, c: 1 }, failOnce: new Set(), dir };
  const mk = (name: StepName, after: StepName[]): PipelineStep => ({
    name,
    title: `step ${name}`,
    after,
    version: 1,
    async identity() {
      return { setting: h.settings[name] };
    },
    async run(ctx) {
      h.runs[name] = (h.runs[name] ?? 0) + 1;
      // Work that survives an interruption: a part, and a progress file the step appends to.
      const partA = await ctx.part('first-half', async () => {
        writeFileSync(join(ctx.dir, 'half.txt'), `half of ${name}`);
        return { value: 21 };
      });
      if (h.failOnce.delete(name)) throw new Error(`${name} crashed`);
      const upstream = after.map((u) => readFileSync(join(ctx.stepDir(u), 'out.txt'), 'utf8')).join('+');
      writeFileSync(join(ctx.dir, 'out.txt'), `${name}(${String(h.settings[name])})[${upstream}]`);
      return { outputs: ['out.txt', 'half.txt'], summary: { value: partA.value * 2, attempt: ctx.attempt } };
    },
  });
  // transform → mine → eval, and init beside them (mine and eval depend on it).
  h.steps = [mk('transform', []), mk('init', []), mk('mine', ['transform', 'init']), mk('eval', ['mine'])];
  h.settings = { transform: 1, init: 1, mine: 1, eval: 1 };
  return h;
}

const quiet = { log: () => {} };

test('a second run reuses every step; a changed setting reruns that step and everything downstream', async () => {
  const h = harness();
  try {
    const r1 = await runSteps(h.config, h.steps, quiet);
    assert.deepEqual(r1.steps.map((s) => s.status), ['ran', 'ran', 'ran', 'ran']);
    assert.deepEqual(h.runs, { transform: 1, init: 1, mine: 1, eval: 1 });
    assert.equal(readFileSync(join(h.dir, 'eval/out.txt'), 'utf8'), 'eval(1)[mine(1)[transform(1)[]+init(1)[]]]');
    const marker = JSON.parse(readFileSync(join(h.dir, 'mine/_DONE.json'), 'utf8'));
    assert.deepEqual(marker.outputs.map((o: { path: string }) => o.path), ['half.txt', 'out.txt']);
    assert.deepEqual(marker.summary, { value: 42, attempt: 1 });

    const r2 = await runSteps(h.config, h.steps, quiet);
    assert.deepEqual(r2.steps.map((s) => s.status), ['reused', 'reused', 'reused', 'reused']);
    assert.deepEqual(h.runs, { transform: 1, init: 1, mine: 1, eval: 1 }, 'nothing ran again');

    h.settings.init = 2;
    const plan = await planSteps(h.config, h.steps);
    assert.deepEqual(plan.map((p) => [p.step, p.action]), [['transform', 'reuse'], ['init', 'run'], ['mine', 'run'], ['eval', 'run']]);
    assert.equal(plan[1]!.reason, 'its inputs or settings changed');
    const r3 = await runSteps(h.config, h.steps, quiet);
    assert.deepEqual(r3.steps.map((s) => s.status), ['reused', 'ran', 'ran', 'ran']);
    assert.deepEqual(h.runs, { transform: 1, init: 2, mine: 2, eval: 2 });
    assert.equal(readFileSync(join(h.dir, 'eval/out.txt'), 'utf8'), 'eval(1)[mine(1)[transform(1)[]+init(2)[]]]');
  } finally {
    rmSync(h.dir, { recursive: true, force: true });
  }
});

test('a deleted or altered output makes its step run again', async () => {
  const h = harness();
  try {
    await runSteps(h.config, h.steps, quiet);
    rmSync(join(h.dir, 'transform/out.txt'));
    const plan = await planSteps(h.config, h.steps);
    assert.equal(plan[0]!.reason, 'output out.txt is missing');
    await runSteps(h.config, h.steps, quiet);
    // The rerun produced the same bytes, so the steps that read it are still valid.
    assert.deepEqual(h.runs, { transform: 2, init: 1, mine: 1, eval: 1 });
    writeFileSync(join(h.dir, 'init/out.txt'), 'something else, longer');
    await runSteps(h.config, h.steps, quiet);
    assert.deepEqual(h.runs, { transform: 2, init: 2, mine: 1, eval: 1 });
  } finally {
    rmSync(h.dir, { recursive: true, force: true });
  }
});

test('an interrupted step resumes in place with the same inputs, and restarts clean when they changed', async () => {
  const h = harness();
  try {
    h.failOnce.add('mine');
    await assert.rejects(runSteps(h.config, h.steps, quiet), (e: Error) => e instanceof StepFailedError && e.step === 'mine' && e.message === 'step mine failed: mine crashed');
    assert.ok(!existsSync(join(h.dir, 'mine/_DONE.json')), 'no marker for a failed step');
    assert.ok(existsSync(join(h.dir, 'mine/half.txt')), 'its partial work is kept');
    assert.ok(!existsSync(join(h.dir, 'eval')), 'later steps did not start');
    const plan = await planSteps(h.config, h.steps);
    assert.equal(plan[2]!.reason, 'interrupted earlier: will resume');
    // What a writer killed mid-write left (an atomic write's temporary) goes when the step resumes.
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    mkdirSync(join(h.dir, 'mine/negatives'));
    const leftover = join(h.dir, `mine/negatives/.part-0.jsonl.tmp-${dead}-0badf00d`);
    writeFileSync(leftover, 'half a line');
    const r = await runSteps(h.config, h.steps, quiet);
    assert.ok(!existsSync(leftover), 'the stale temporary is removed on resume');
    assert.deepEqual(r.steps.map((s) => [s.step, s.status, s.resumed]), [['transform', 'reused', false], ['init', 'reused', false], ['mine', 'ran', true], ['eval', 'ran', false]]);
    const marker = JSON.parse(readFileSync(join(h.dir, 'mine/_DONE.json'), 'utf8'));
    assert.equal(marker.attempts, 2);
    assert.deepEqual(marker.summary, { value: 42, attempt: 2 }, 'the finished part was not redone (its saved result was used)');

    // Interrupted again, but the step's settings change before the rerun: its folder is cleared.
    h.failOnce.add('eval');
    h.settings.eval = 5;
    await assert.rejects(runSteps(h.config, h.steps, quiet), /eval crashed/);
    writeFileSync(join(h.dir, 'eval/stale.tmp'), 'left by the interrupted attempt');
    h.settings.eval = 6;
    await runSteps(h.config, h.steps, quiet);
    assert.ok(!existsSync(join(h.dir, 'eval/stale.tmp')), 'a restart with other inputs starts from an empty folder');
    assert.equal(JSON.parse(readFileSync(join(h.dir, 'eval/_DONE.json'), 'utf8')).attempts, 1);
  } finally {
    rmSync(h.dir, { recursive: true, force: true });
  }
});

test('--force reruns a step and the steps that use its outputs; --until stops early', async () => {
  const h = harness();
  try {
    const r = await runSteps(h.config, h.steps, { ...quiet, until: 'init' });
    assert.deepEqual(r.steps.map((s) => s.status), ['ran', 'ran', 'pending', 'pending']);
    await runSteps(h.config, h.steps, quiet);
    assert.deepEqual(h.runs, { transform: 1, init: 1, mine: 1, eval: 1 });
    await runSteps(h.config, h.steps, { ...quiet, force: ['mine'] });
    assert.deepEqual(h.runs, { transform: 1, init: 1, mine: 2, eval: 2 }, 'mine and the step that reads it');
    await runSteps(h.config, h.steps, { ...quiet, force: ['init'] });
    assert.deepEqual(h.runs, { transform: 1, init: 2, mine: 3, eval: 3 }, 'init, and mine (which reads init) and eval (which reads mine), not transform');
    await assert.rejects(runSteps(h.config, h.steps, { ...quiet, force: ['nope' as StepName] }), /unknown step "nope"/);
    // The plan checks step names as the run does (it used to plan nothing for an unknown --until).
    await assert.rejects(planSteps(h.config, h.steps, { until: 'nope' as StepName }), /--until: unknown step "nope"/);
    await assert.rejects(planSteps(h.config, h.steps, { force: ['nope' as StepName] }), /--force: unknown step "nope"/);
    assert.deepEqual((await planSteps(h.config, h.steps, { until: 'init' })).map((p) => p.step), ['transform', 'init']);
  } finally {
    rmSync(h.dir, { recursive: true, force: true });
  }
});

test('--force starts the forced steps from an empty folder (no resume, no old files); a rerun after a kill resumes the forced rerun', async () => {
  const h = harness();
  const attemptOf = (step: string) => JSON.parse(readFileSync(join(h.dir, step, '_DONE.json'), 'utf8')) as { attempts: number; summary: { attempt: number } };
  try {
    await runSteps(h.config, h.steps, quiet);
    writeFileSync(join(h.dir, 'mine/stale.txt'), 'left by the earlier run');
    writeFileSync(join(h.dir, 'eval/stale.txt'), 'an old result file');
    const lines: string[] = [];
    const r = await runSteps(h.config, h.steps, { log: (l) => lines.push(l), force: ['mine'] });
    assert.deepEqual(r.steps.map((s) => [s.step, s.status, s.resumed]), [['transform', 'reused', false], ['init', 'reused', false], ['mine', 'ran', false], ['eval', 'ran', false]]);
    assert.ok(!lines.some((l) => /resuming/.test(l)), lines.join('\n'));
    for (const step of ['mine', 'eval']) {
      assert.ok(!existsSync(join(h.dir, step, 'stale.txt')), `${step}: a forced step starts from an empty folder`);
      assert.equal(attemptOf(step).attempts, 1, `${step}: a fresh attempt, not a resume of the completed one`);
      assert.equal(attemptOf(step).summary.attempt, 1);
    }

    // Killed inside the forced rerun of mine: the steps forced through it are cleared too, so the old
    // outputs of eval are never reused, even though mine's rerun gives the same bytes.
    h.failOnce.add('mine');
    await assert.rejects(runSteps(h.config, h.steps, { ...quiet, force: ['mine'] }), /mine crashed/);
    assert.ok(!existsSync(join(h.dir, 'mine/_DONE.json')) && !existsSync(join(h.dir, 'eval')), 'no step of the forced closure is left complete');
    assert.equal((await planSteps(h.config, h.steps))[2]!.reason, 'interrupted earlier: will resume');
    const resumed = await runSteps(h.config, h.steps, quiet);
    assert.deepEqual(resumed.steps.map((s) => [s.step, s.status, s.resumed]), [['transform', 'reused', false], ['init', 'reused', false], ['mine', 'ran', true], ['eval', 'ran', false]]);
    assert.equal(attemptOf('mine').attempts, 2, 'the plain rerun resumed the forced attempt');
    assert.equal(attemptOf('eval').attempts, 1);

    // --force on an interrupted step restarts it too (it does not resume the interrupted attempt).
    h.failOnce.add('eval');
    await assert.rejects(runSteps(h.config, h.steps, { ...quiet, force: ['eval'] }), /eval crashed/);
    writeFileSync(join(h.dir, 'eval/stale.txt'), 'partial work');
    await runSteps(h.config, h.steps, { ...quiet, force: ['eval'] });
    assert.ok(!existsSync(join(h.dir, 'eval/stale.txt')));
    assert.equal(attemptOf('eval').attempts, 1);

    // A folder renamed aside by a run killed while clearing it is deleted by the next run.
    const aside = join(h.dir, '.discard-mine-1-deadbeef');
    mkdirSync(join(aside, 'deep'), { recursive: true });
    writeFileSync(join(aside, 'deep/out.txt'), 'x');
    const again = await runSteps(h.config, h.steps, quiet);
    assert.deepEqual(again.steps.map((s) => s.status), ['reused', 'reused', 'reused', 'reused']);
    assert.ok(!existsSync(aside));
  } finally {
    rmSync(h.dir, { recursive: true, force: true });
  }
});

test('a run folder is locked while a pipeline runs; a stale lock is taken over', async () => {
  const h = harness();
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  try {
    await new Promise((r) => child.once('spawn', r));
    writeFileSync(join(h.dir, '.lock'), `${child.pid}\n`);
    await assert.rejects(runSteps(h.config, h.steps, quiet), (e: Error) => e instanceof RunLockedError && e.message.includes(`pid ${child.pid}`));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const r = await runSteps(h.config, h.steps, quiet);
    assert.ok(r.complete);
    assert.ok(!existsSync(join(h.dir, '.lock')), 'the lock is released at the end');
    const folder = new RunFolder(h.dir);
    folder.lock();
    folder.unlock();
  } finally {
    child.kill('SIGKILL');
    rmSync(h.dir, { recursive: true, force: true });
  }
});
