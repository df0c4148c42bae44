import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize, planSynthesis, synthPaths, type SynthesizeOptions } from '../../src/synth/synthesize.js';
import { sourceIdOf, parseRecord, type CanonicalRecord } from '../../src/synth/records.js';
import { loadResumeState } from '../../src/synth/synth-journal.js';
import { startScriptedServer, inputKeyOf, listAnswer, reverseWords, rotateWords, type Action, type ScriptedRequest } from './helpers/scripted-llm-server.js';

type Script = (r: ScriptedRequest) => Action;
/** The answer for the k-th distinct request (try) of an item; the last one repeats. */
const byTry = (...actions: Action[]): Script => (r) => actions[Math.min(r.attempt, actions.length) - 1]!;
/** A transport failure the first time a request is sent, then `then`. */
const flakyOnce = (failure: Action, then: Script): Script => (r) => (r.seen === 1 ? failure : then(r));

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'qzhou-synth-'));
}
function writeJsonl(path: string, rows: unknown[]): void {
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
function readJsonl(path: string): Record<string, any>[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
const ret = (query: string, pos: string, extra: object = {}) => ({ type: 'retrieval', query, pos: [pos], ...extra });
// Two valid rewrites: same length and language, far from the original and from each other, and
// (for paragraphs) no adjacent sentence pair kept.
const rewrites = (q: string, p: string) => [
  { query: reverseWords(q), positive: reverseWords(p) },
  { query: reverseWords(rotateWords(q)), positive: reverseWords(rotateWords(p)) },
];

const T = {
  A: ['How do I reset my online banking password?', 'Open the mobile app and tap Settings. Choose Reset password and confirm with the code we text you.'],
  A2: ['How can I reset my online banking password?', 'Open the mobile app and tap Settings. Choose Reset password and confirm with the code we text you. Thank you.'],
  B: ['Why was my card payment declined at the shop?', 'Payments are declined when the daily limit is reached. Check the limit in the app and raise it if needed.'],
  C: ['Can I order a second card for my partner?', 'Yes, a second card can be ordered in the app under Cards. It arrives within five working days.'],
  D: ['How long does an international transfer take?', 'Transfers abroad usually arrive within two working days. Some currencies can take up to five days.'],
  E: ['What is the fee for withdrawing cash abroad?', 'Cash withdrawals abroad cost two percent of the amount. The minimum fee is one euro per withdrawal.'],
  F: ['How do I change the address on my account?', 'Go to Profile in the app and edit the address field. We may ask for a proof of address document.'],
  G: ['Where can I see my pending card payments?', 'Pending payments are listed at the top of the transactions screen. They settle within a few days.'],
  H: ['How do I freeze a card that I have lost?', 'Open the card in the app and tap Freeze. You can unfreeze it at any time if you find the card again.'],
  I: ['Is there a limit on contactless payments?', 'Contactless payments are limited to fifty euros each. Above that amount you need to enter your PIN.'],
  J: ['How do I set a new password in the app?', 'Open the mobile app. Tap the settings icon. Choose reset password. Confirm with the code we send you.'],
} as const;
const PAIR = { type: 'pair', text1: 'A man is playing a guitar on the stage.', text2: 'Someone performs music with a guitar.', score: 4.2, dataset: 'stsb' };
const CLS = { type: 'cls', text: 'I lost my card yesterday, please block it.', label: 'lost_or_stolen_card', dataset: 'banking77' };

function paraphraseScript(): Script {
  const ok = (k: keyof typeof T) => listAnswer('paraphrases', rewrites(T[k][0], T[k][1]));
  const [aq, ap] = T.A;
  const plan: Record<string, Script> = {
    [T.A[0]]: byTry(
      { kind: 'answer', content: 'Sure! Here you go: {"paraphrases": [' },
      listAnswer('paraphrases', [
        { query: 'Reset password?', positive: reverseWords(ap) }, // query too short
        { query: 'How do I reset my online bank password?', positive: rotateWords(ap) }, // query too similar
      ]),
      ok('A'),
    ),
    // Valid for A2 on their own, but exactly A's accepted outputs: duplicates across items.
    [T.A2[0]]: byTry(listAnswer('paraphrases', rewrites(aq, ap)), ok('A2')),
    [T.B[0]]: byTry(
      { kind: 'answer', content: '{"paraphrases": [{"query": 5, "positive": "x"}]}' },
      listAnswer('paraphrases', [
        { query: '为什么我在商店的银行卡付款被拒绝了？', positive: reverseWords(T.B[1]) }, // wrong language
        rewrites(T.B[0], T.B[1])[0],
      ]),
      listAnswer('paraphrases', [rewrites(T.B[0], T.B[1])[0], rewrites(T.B[0], T.B[1])[1]]), // first one is a repeat
    ),
    [T.C[0]]: byTry({ kind: 'answer', content: 'I cannot answer in JSON, sorry.' }),
    [T.D[0]]: byTry({ kind: 'answer', content: '{"paraphrases": [{"query": "How long', finishReason: 'length' }, ok('D')),
    [T.E[0]]: byTry({ kind: 'status', status: 400, body: '{"error":{"message":"This model\'s maximum context length is exceeded"}}' }),
    [T.F[0]]: flakyOnce({ kind: 'status', status: 429, headers: { 'retry-after': '1' } }, byTry(ok('F'))),
    [T.G[0]]: flakyOnce({ kind: 'status', status: 500 }, byTry(ok('G'))),
    [T.H[0]]: flakyOnce({ kind: 'drop' }, byTry(ok('H'))),
    [T.I[0]]: flakyOnce({ kind: 'hang' }, byTry(ok('I'))),
    [T.J[0]]: byTry(
      listAnswer('paraphrases', [
        { query: reverseWords(T.J[0]), positive: 'Open the mobile app. Tap the settings icon. A fresh passcode can be picked there, and the texted PIN finalises it.' },
      ]),
      ok('J'),
    ),
    [PAIR.text1]: byTry(listAnswer('paraphrases', [
      { text1: reverseWords(PAIR.text1), text2: reverseWords(PAIR.text2) },
      { text1: rotateWords(PAIR.text1), text2: rotateWords(PAIR.text2) },
    ])),
    [CLS.text]: byTry(listAnswer('paraphrases', [{ text: reverseWords(CLS.text) }, { text: rotateWords(CLS.text) }])),
  };
  return (r) => {
    const f = plan[inputKeyOf(r.input) ?? ''];
    if (!f) throw new Error(`unscripted request: ${inputKeyOf(r.input)}`);
    return f(r);
  };
}

function baseOptions(dir: string, url: string, over: Partial<SynthesizeOptions> = {}): SynthesizeOptions {
  return {
    generator: 'paraphrase',
    input: join(dir, 'in.jsonl'),
    output: join(dir, 'out.jsonl'),
    llm: { baseUrl: url, model: 'test-model', concurrency: 1, timeoutMs: 1500, backoffBaseMs: 5, backoffMaxMs: 20 },
    n: 2,
    maxTries: 3,
    pricing: { inputPerMillion: 2, outputPerMillion: 8 },
    ...over,
  };
}

test('paraphrase: scripted failures and constraint violations are counted by reason; nothing lost or duplicated; a rerun sends nothing', async () => {
  const dir = tmp();
  const server = await startScriptedServer(paraphraseScript());
  try {
    const rows = [
      ret(...T.A), ret(...T.A2), ret(...T.B), ret(...T.C), ret(...T.D), ret(...T.E), ret(...T.F), ret(...T.G),
      ret(...T.H), ret(...T.I), ret(...T.J), PAIR, CLS,
      ret(...T.B), // the same record again
    ];
    writeJsonl(join(dir, 'in.jsonl'), rows);
    const opts = baseOptions(dir, server.url);
    const s = await synthesize(opts);

    assert.equal(s.complete, true);
    assert.deepEqual(s.items, { ok: 11, partial: 0, exhausted: 1, rejected: 1, skipped: 0, finished: 13 });
    assert.deepEqual(s.skip_reasons, {});
    assert.equal(s.duplicate_inputs, 1);
    assert.deepEqual(s.rejections, {
      malformed_json: 1 + 3, length: 1, too_similar: 1, schema: 1, language: 1, duplicate: 1 + 2,
      truncated: 1, request_rejected: 1, copied_sentences: 1,
    });
    assert.equal(s.tries, 3 + 2 + 3 + 3 + 2 + 1 + 1 + 1 + 1 + 1 + 2 + 1 + 1);
    assert.deepEqual(s.this_run.retries, { rate_limited: 1, server_error: 1, timeout: 1, network: 1, invalid_response: 0 });
    assert.equal(s.this_run.failures, 1);
    assert.equal(server.log.length, 22 + 4, 'one request per try, plus one resend per transport failure');
    assert.equal(s.this_run.answers, 21);
    assert.deepEqual(s.tokens, { prompt: 2100, completion: 840, cached_prompt: 0, cached_completion: 0 });
    assert.equal(s.cost_usd, (2100 * 2 + 840 * 8) / 1e6);

    // Output: 2 records per ok item, each with provenance, no duplicate texts, the labels kept.
    const out = readJsonl(opts.output);
    assert.equal(out.length, 22);
    assert.equal(s.outputs, 22);
    const bySource = new Map<string, Record<string, any>[]>();
    for (const r of out) bySource.set(r.provenance.source_id, [...(bySource.get(r.provenance.source_id) ?? []), r]);
    const id = (row: object) => sourceIdOf(parseRecord(row, { file: 'x', line: 1 }));
    for (const k of ['A', 'A2', 'B', 'D', 'F', 'G', 'H', 'I', 'J'] as const) assert.equal(bySource.get(id(ret(T[k][0], T[k][1])))?.length, 2, k);
    for (const k of ['C', 'E'] as const) assert.equal(bySource.get(id(ret(T[k][0], T[k][1]))), undefined, k);
    assert.deepEqual(out.find((r) => r.provenance.source_id === id(ret(...T.A)))!.query, reverseWords(T.A[0]));
    const aOut = bySource.get(id(ret(...T.A)))!;
    assert.deepEqual(aOut.map((r) => r.provenance.attempt), [3, 3]);
    assert.deepEqual(Object.keys(aOut[0]!), ['type', 'query', 'pos', 'neg', 'id', 'provenance']);
    assert.deepEqual(aOut[0]!.provenance, {
      generator: 'paraphrase', prompt_version: 'paraphrase-retrieval@1', prompt_hash: aOut[0]!.provenance.prompt_hash,
      model: 'test-model', source_id: id(ret(...T.A)), attempt: 3,
    });
    assert.match(aOut[0]!.provenance.prompt_hash, /^[0-9a-f]{12}$/);
    const pairOut = bySource.get(id(PAIR))!;
    assert.deepEqual(pairOut.map((r) => [r.type, r.score, r.dataset]), [['pair', 4.2, 'stsb'], ['pair', 4.2, 'stsb']]);
    const clsOut = bySource.get(id(CLS))!;
    assert.deepEqual(clsOut.map((r) => [r.type, r.label, r.text]), [['cls', 'lost_or_stolen_card', reverseWords(CLS.text)], ['cls', 'lost_or_stolen_card', rotateWords(CLS.text)]]);
    const texts = out.map((r) => JSON.stringify([r.query, r.pos, r.text1, r.text2, r.text]));
    assert.equal(new Set(texts).size, texts.length, 'no duplicate outputs');

    // The rejection reasons went back to the model on the next try.
    const aTry2 = server.log.find((l) => l.inputKey === T.A[0] && l.attempt === 2)!;
    assert.match(aTry2.user, /could not be used:\n- the answer was not valid JSON/);
    const aTry3 = server.log.find((l) => l.inputKey === T.A[0] && l.attempt === 3)!;
    assert.match(aTry3.user, /the query has 15 characters; it must have 36–48/);
    assert.match(aTry3.user, /the query is only \d+% different from the original; it must differ by at least 30%/);

    // The summary file matches, and a rerun is a no-op that sends nothing.
    assert.deepEqual(JSON.parse(readFileSync(synthPaths(opts.output).summary, 'utf8')).rejections, s.rejections);
    const before = server.log.length;
    const again = await synthesize(opts);
    assert.equal(server.log.length, before);
    assert.deepEqual(again.items, s.items);
    assert.deepEqual(again.rejections, s.rejections);
    assert.equal(again.this_run.requests, 0);
    assert.equal(readJsonl(opts.output).length, 22);
    assert.ok(!existsSync(`${opts.output}.partial`) && !existsSync(`${opts.output}.lock`));
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('augment and hard-negative: topic shift, negative closeness, enum and dedup checks; output shapes', async () => {
  const dir = tmp();
  const q = 'How do I reset my online banking password?';
  const p = 'Open the mobile app and tap Settings. Choose Reset password and confirm with the code we text you.';
  const newQ = 'How can I raise the daily limit on my debit card?';
  const newP = 'Open the card screen in the app and tap Limits. Pick a new daily amount and confirm with your PIN.';
  const newN = 'Daily limits protect you from fraud. Most banks set them low by default and review them every year.';
  const neg1 = 'Passwords must be at least eight characters long. Use letters and numbers and change it every year.';
  const neg2 = 'Call the branch during opening hours and ask for help. A clerk can explain the security questions.';
  const tooLong = `${neg2} ${neg2}`;
  const augServer = await startScriptedServer(byTry(
    listAnswer('examples', [{ query: 'How do I reset my online banking password now?', positive: newP, negative: newN, negative_kind: 'deviation' }]),
    listAnswer('examples', [{ query: newQ, positive: newP, negative: newP, negative_kind: 'aspect' }]),
    listAnswer('examples', [{ query: newQ, positive: newP, negative: newN, negative_kind: 'other' }]),
    listAnswer('examples', [{ query: newQ, positive: newP, negative: newN, negative_kind: ' ASPECT ' }]),
  ));
  const hnServer = await startScriptedServer(byTry(
    listAnswer('negatives', [{ text: `${p}!`, kind: 'deviation' }, { text: neg1, kind: 'Irrelevant' }]),
    listAnswer('negatives', [{ text: neg1, kind: 'aspect' }, { text: tooLong, kind: 'aspect' }]),
    listAnswer('negatives', [{ text: neg2, kind: 'aspect' }]),
  ));
  try {
    writeJsonl(join(dir, 'in.jsonl'), [ret(q, p, { instruction: 'Given a question, retrieve answers', neg: ['An old negative passage that already came with the data set.'] }), CLS]);
    const aug = await synthesize(baseOptions(dir, augServer.url, { generator: 'augment', n: 1, maxTries: 5, output: join(dir, 'aug.jsonl') }));
    assert.deepEqual(aug.rejections, { too_similar: 1, negative_too_close: 1, schema: 1 });
    assert.deepEqual(aug.skip_reasons, { 'unsupported_type:cls': 1 });
    const [a] = readJsonl(join(dir, 'aug.jsonl'));
    assert.deepEqual(
      { type: a!.type, query: a!.query, pos: a!.pos, neg: a!.neg, instruction: a!.instruction, kinds: a!.provenance.negative_kinds, attempt: a!.provenance.attempt },
      { type: 'retrieval', query: newQ, pos: [newP], neg: [newN], instruction: 'Given a question, retrieve answers', kinds: ['aspect'], attempt: 4 },
    );

    const hn = await synthesize(baseOptions(dir, hnServer.url, { generator: 'hard-negative', n: 2, maxTries: 5, output: join(dir, 'hn.jsonl') }));
    assert.deepEqual(hn.rejections, { negative_too_close: 1, duplicate: 1, length: 1 });
    assert.deepEqual(hn.items, { ok: 1, partial: 0, exhausted: 0, rejected: 0, skipped: 1, finished: 2 });
    const [h] = readJsonl(join(dir, 'hn.jsonl'));
    assert.deepEqual(h!.neg, ['An old negative passage that already came with the data set.', neg1, neg2]);
    assert.deepEqual(h!.pos, [p]);
    assert.deepEqual(h!.provenance.negative_kinds, ['irrelevant', 'aspect']);
    assert.deepEqual(h!.provenance.negative_attempts, [1, 3]);
    assert.equal(h!.provenance.generator, 'hard-negative');
    assert.equal(h!.provenance.prompt_version, 'hard-negative-retrieval@1');
    assert.ok(/<example>/.test(augServer.log[0]!.user) && !/<example>/.test(hnServer.log[0]!.user));
  } finally {
    await augServer.close();
    await hnServer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resume: --limit and an interrupted run continue where they stopped without re-sending anything', async () => {
  const dir = tmp();
  const abort = new AbortController();
  let requests = 0;
  const server = await startScriptedServer((r) => {
    // The 16th request (the 6th of the second run) interrupts that run, deterministically.
    if (++requests === 16) abort.abort();
    const input = r.input as { query: string; positive: string };
    return { kind: 'answer', content: JSON.stringify({ paraphrases: rewrites(input.query, input.positive) }), delayMs: 15 };
  });
  try {
    const rows = Array.from({ length: 30 }, (_, i) => ret(`Question number ${i} about the savings account interest?`, `The answer for question ${i} is that interest is paid monthly. Rates change with the central bank.`));
    writeJsonl(join(dir, 'in.jsonl'), rows);
    const opts = baseOptions(dir, server.url, { llm: { baseUrl: server.url, model: 'm', concurrency: 3 } });
    const first = await synthesize({ ...opts, limit: 10 });
    assert.equal(first.limited, true);
    assert.equal(first.complete, false);
    assert.equal(readJsonl(opts.output).length, 20);

    const second = await synthesize({ ...opts, signal: abort.signal });
    assert.equal(second.interrupted, true);
    assert.ok(existsSync(`${opts.output}.partial`) && !existsSync(opts.output), 'an interrupted run keeps its working file');
    // Items in flight when the signal came (at most 3) are finished and committed; no new ones start.
    assert.ok(second.items.ok >= 16 && second.items.ok <= 16 + 2, `ok=${second.items.ok}`);

    const third = await synthesize(opts);
    assert.equal(third.complete, true);
    const out = readJsonl(opts.output);
    assert.equal(out.length, 60);
    const perSource = new Map<string, number>();
    for (const r of out) perSource.set(r.provenance.source_id, (perSource.get(r.provenance.source_id) ?? 0) + 1);
    assert.equal(perSource.size, 30);
    assert.ok([...perSource.values()].every((c) => c === 2));
    assert.equal(server.log.length, 30, 'each item was asked exactly once over the three runs');
    assert.equal(new Set(server.log.map((l) => l.hash)).size, 30);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadResumeState drops a torn line and the output of an item that has no journal line', async () => {
  const dir = tmp();
  try {
    const out = join(dir, 'o.partial');
    const journal = join(dir, 'o.journal.jsonl');
    const rec = (src: string, q: string): CanonicalRecord & object => ({ type: 'retrieval', query: q, pos: ['p'], neg: [], provenance: { source_id: src } } as never);
    const entry = (id: string, outputs: number) => ({ id, status: 'ok', outputs, tries: 1, rejections: {}, usage: {} });
    writeJsonl(out, [rec('a', 'q1'), rec('a', 'q2'), rec('b', 'q3')]);
    appendFileSync(out, '{"type":"retrieval","query":"torn');
    writeJsonl(journal, [entry('a', 2)]);
    appendFileSync(journal, '{"id":"b","sta');
    const state = await loadResumeState(out, journal, (r) => [(r as { query: string }).query]);
    assert.equal(state.done.size, 1);
    assert.ok(state.done.hasString('a') && !state.done.hasString('b'));
    assert.equal(state.totals.items.ok, 1);
    assert.equal(state.outputLines, 2);
    assert.equal(state.droppedLines, 1);
    assert.equal(state.dedupKeys.size, 2);
    assert.ok(state.dedupKeys.hasString('q1') && state.dedupKeys.hasString('q2') && !state.dedupKeys.hasString('q3'));
    assert.deepEqual(readJsonl(out).map((r) => r.query), ['q1', 'q2']);
    assert.ok(readFileSync(journal, 'utf8').endsWith('}\n'));

    // Output of a journaled item after uncommitted output cannot come from a kill: refuse.
    writeJsonl(out, [rec('x', 'q'), rec('a', 'q1'), rec('a', 'q2')]);
    await assert.rejects(loadResumeState(out, journal, () => []), /o\.partial:2: output of a finished item follows uncommitted output/);
    // Journal and output that disagree on counts.
    writeJsonl(out, [rec('a', 'q1')]);
    await assert.rejects(loadResumeState(out, journal, () => []), /has 1 committed output lines but .* records 2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input names the file, line and field; --skip-invalid skips it', async () => {
  const dir = tmp();
  const server = await startScriptedServer((r) => {
    const input = r.input as { query: string; positive: string };
    return listAnswer('paraphrases', rewrites(input.query, input.positive));
  });
  try {
    writeFileSync(join(dir, 'in.jsonl'), `${JSON.stringify(ret(...T.A))}\n\n{"type":"retrieval","query":"q","pos":[1]}\n{not json\n`);
    const opts = baseOptions(dir, server.url);
    await assert.rejects(synthesize(opts), (e: Error) => e.message === `${opts.input}:3: pos[0]: expected a string, got 1`);
    writeFileSync(join(dir, 'in.jsonl'), `${JSON.stringify(ret(...T.A))}\n{"type":"retrieval","query":"q","pos":[1]}\n{"type":"qa"}\n{bad json\n`);
    const s = await synthesize({ ...opts, skipInvalid: true, output: join(dir, 'o2.jsonl') });
    assert.deepEqual(s.skip_reasons, { invalid_record: 3 });
    assert.equal(s.items.ok, 1);
    writeFileSync(join(dir, 'in.jsonl'), `{not json\n`);
    await assert.rejects(synthesize({ ...opts, output: join(dir, 'o3.jsonl') }), /in\.jsonl:1: invalid JSON/);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dry run: the exact first-try prompts, token and cost estimates, cache hits; nothing sent or written', async () => {
  const dir = tmp();
  const server = await startScriptedServer((r) => {
    const input = r.input as { query: string; positive: string };
    return listAnswer('paraphrases', rewrites(input.query, input.positive));
  });
  try {
    writeJsonl(join(dir, 'in.jsonl'), [ret(...T.A), ret(...T.B), CLS]);
    const opts = baseOptions(dir, server.url);
    const plan = await planSynthesis({ ...opts, show: 1 });
    assert.equal(server.log.length, 0);
    assert.deepEqual(readFileSync(join(dir, 'in.jsonl')).length > 0 && existsSync(opts.output), false);
    assert.equal(plan.items, 3);
    assert.equal(plan.cachedRequests, 0);
    assert.equal(plan.samples.length, 1);
    const user = plan.samples[0]!.messages[1]!.content;
    assert.match(user, /Write 2 different rewrites/);
    assert.match(user, /"query": "How do I reset my online banking password\?"/);
    assert.match(user, /the query about 42 characters,\s+the passage about 98 characters/);
    assert.ok(!user.includes('{{'), 'all placeholders filled');
    assert.ok(plan.promptTokens > 300 && plan.completionTokens > 50);
    assert.equal(plan.costUsd, (plan.promptTokens * 2 + plan.completionTokens * 8) / 1e6);

    // After a real run the same first tries are cache hits (and the finished items are skipped).
    await synthesize({ ...opts, limit: 1 });
    const after = await planSynthesis(opts);
    assert.equal(after.alreadyDone, 1);
    assert.equal(after.items, 2);
    const keep = await planSynthesis({ ...opts, output: join(dir, 'other.jsonl'), cachePath: synthPaths(opts.output).cache });
    assert.equal(keep.cachedRequests, 1);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
