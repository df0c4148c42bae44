import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { command } from '../../src/cli/commands/synth.js';
import { UsageError } from '../../src/cli/command.js';
import { startScriptedServer, listAnswer, reverseWords, rotateWords } from './helpers/scripted-llm-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runCli(args: string[], onStart?: (child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    for (const k of ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENAI_MODEL', 'QZHOU_LLM_API_KEY', 'QZHOU_LLM_BASE_URL', 'QZHOU_LLM_MODEL']) delete env[k];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    onStart?.(child);
  });
}

const lines = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : []);

test('qzhou synth survives SIGKILL: the rerun finishes every record exactly once and re-sends at most the requests in flight', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-synth-cli-'));
  const server = await startScriptedServer((r) => {
    const x = r.input as { query: string; positive: string };
    const answer = listAnswer('paraphrases', [
      { query: reverseWords(x.query), positive: reverseWords(x.positive) },
      { query: reverseWords(rotateWords(x.query)), positive: reverseWords(rotateWords(x.positive)) },
    ]);
    return { ...answer, delayMs: 60 } as typeof answer;
  });
  try {
    const N = 60;
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    writeFileSync(input, Array.from({ length: N }, (_, i) => JSON.stringify({
      type: 'retrieval', query: `What is the interest rate of savings plan ${i} this year?`,
      pos: [`Savings plan ${i} pays interest every month. The rate follows the central bank and changes each quarter.`],
    })).join('\n') + '\n');
    const args = ['synth', '--generator', 'paraphrase', '--input', input, '--output', output, '--model', 'test-model', '--base-url', server.url, '--concurrency', '3', '--max-tries', '3'];

    const journal = `${output}.journal.jsonl`;
    const killed = await runCli(args, (child) => {
      const poll = setInterval(() => {
        if (lines(journal).length >= 12) {
          clearInterval(poll);
          child.kill('SIGKILL');
        }
      }, 10);
      child.on('close', () => clearInterval(poll));
    });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    const doneBefore = lines(journal).length;
    assert.ok(doneBefore >= 12 && doneBefore < N, `killed after ${doneBefore} records`);
    assert.ok(existsSync(`${output}.partial`) && !existsSync(output));
    const sentBefore = server.log.length;

    const rerun = await runCli(args);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, /synth: complete/);
    const out = lines(output).map((l) => JSON.parse(l) as { provenance: { source_id: string }; query: string });
    const perSource = new Map<string, number>();
    for (const r of out) perSource.set(r.provenance.source_id, (perSource.get(r.provenance.source_id) ?? 0) + 1);
    assert.equal(perSource.size, N, 'every record is in the output');
    assert.ok([...perSource.values()].every((c) => c === 2), 'no record twice, none half-written');
    assert.equal(new Set(out.map((r) => r.query)).size, 2 * N);
    const ids = lines(journal).map((l) => (JSON.parse(l) as { id: string }).id);
    assert.equal(ids.length, N);
    assert.equal(new Set(ids).size, N);

    // Requests: one per record, plus at most the ones in flight at the kill (3), sent again.
    const distinct = new Set(server.log.map((l) => l.hash));
    assert.equal(distinct.size, N);
    const resent = server.log.filter((l) => l.seen > 1);
    assert.ok(resent.length <= 3, `${resent.length} requests were sent twice`);
    assert.ok(server.log.length - sentBefore <= N - doneBefore + 3);
    assert.match(rerun.stderr, /cached answers/);
    const summary = JSON.parse(readFileSync(`${output}.summary.json`, 'utf8'));
    assert.equal(summary.items.ok, N);
    assert.equal(summary.complete, true);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('qzhou synth --dry-run prints the prompts and estimates and sends nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qzhou-synth-cli-'));
  const server = await startScriptedServer(() => ({ kind: 'status', status: 500 }));
  try {
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, `${JSON.stringify({ type: 'retrieval', query: '如何重置网上银行密码？', pos: ['打开手机银行，点击设置。选择重置密码，并输入短信验证码确认。'] })}\n`);
    const r = await runCli(['synth', '--generator', 'hard-negative', '--input', input, '--output', join(dir, 'o.jsonl'), '--model', 'm', '--base-url', server.url, '--dry-run', '--price-in', '1', '--price-out', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\[system\]/);
    assert.match(r.stdout, /Write 4 hard negative\s+passages/);
    assert.match(r.stdout, /Write in Chinese\./);
    assert.match(r.stdout, /dry run: 1 records to synthesise with hard-negative/);
    assert.match(r.stdout, /estimated cost: \$0\.\d{4}/);
    assert.equal(server.log.length, 0);
    assert.ok(!existsSync(join(dir, 'o.jsonl.journal.jsonl')) && !existsSync(join(dir, 'o.jsonl.cache.jsonl')));
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('qzhou synth flag errors name the flag', async () => {
  const base = ['--input', 'a.jsonl', '--output', 'b.jsonl', '--model', 'm'];
  await assert.rejects(command.run(['--generator', 'rewrite', ...base]), (e: unknown) => e instanceof UsageError && /--generator: expected paraphrase, augment or hard-negative/.test((e as Error).message));
  await assert.rejects(command.run(['--generator', 'augment', ...base, '--n', '0']), /--n: expected an integer ≥ 1/);
  await assert.rejects(command.run(['--generator', 'augment', ...base, '--min-diff-sentence', '2']), /--min-diff-sentence: expected a number between 0 and 1/);
  await assert.rejects(command.run(['--generator', 'augment', '--input', 'a', '--output', 'b']), /--model is required/);
  await assert.rejects(command.run(['--generator', 'augment', ...base, '--bogus']), /bogus/);
  await assert.rejects(command.run(['--generator', 'augment', ...base, '--timeout', '0']), /--timeout: expected a number > 0, got "0"/);
  await assert.rejects(command.run(['--generator', 'augment', ...base, '--rpm=-5']), /--rpm: expected a number > 0/);
});
