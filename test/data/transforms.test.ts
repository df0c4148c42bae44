import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTransform, DataError, RC_CONNECTOR_ZH, readRecords, type CanonicalRecord, type SourceRecord, type TransformConfig } from '../../src/data/index.js';
import { tempDir, writeText } from './helpers.js';

const dir = tempDir();

/** Runs a transformation over every record of a file; bad records become their error messages. */
async function run(path: string, config: TransformConfig, readOpts = {}): Promise<{ out: CanonicalRecord[]; errors: DataError[] }> {
  const t = createTransform(config);
  const out: CanonicalRecord[] = [];
  const errors: DataError[] = [];
  for await (const src of readRecords(path, { ...readOpts, onBadRecord: (e) => errors.push(e) })) {
    try {
      out.push(...t(src));
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      errors.push(e);
    }
  }
  return { out, errors };
}

const src = (record: Record<string, unknown>, line = 1): SourceRecord => ({ record, file: 'x.jsonl', line });

test('title-body and title-abstract: query = title, pos = body/abstract; extra fields kept as provenance', async () => {
  const p = writeText(
    dir,
    'news.jsonl',
    [
      JSON.stringify({ title: '央行宣布降准', body: '中国人民银行今天宣布下调存款准备金率0.5个百分点。', url: 'http://x/1', type: 'news' }),
      JSON.stringify({ title: 'No body here' }),
      JSON.stringify({ title: '   ', body: 'x' }),
      '{"title": "broken json"',
    ].join('\n'),
  );
  const { out, errors } = await run(p, { type: 'title-body', dataset: 'news-zh' });
  assert.deepEqual(out, [{ type: 'retrieval', query: '央行宣布降准', pos: ['中国人民银行今天宣布下调存款准备金率0.5个百分点。'], neg: [], dataset: 'news-zh', url: 'http://x/1' }]);
  assert.deepEqual(
    errors.map((e) => e.message),
    [`${p}:2: body (or content, text): missing`, `${p}:3: title: empty text`, errors[2]!.message],
  );
  assert.equal(errors[2]!.reason, 'bad-json');
  assert.match(errors[2]!.message, new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: invalid JSON`));

  const csv = writeText(dir, 'papers.csv', 'title,abstract,year\n"Attention Is All You Need","The dominant sequence transduction models are based on complex recurrent or convolutional neural networks, ""attention""...",2017\n');
  const r = await run(csv, { type: 'title-abstract', provenance: false });
  assert.deepEqual(r.out, [
    { type: 'retrieval', query: 'Attention Is All You Need', pos: ['The dominant sequence transduction models are based on complex recurrent or convolutional neural networks, "attention"...'], neg: [] },
  ]);
});

test('qa and claim-evidence: lists of answers/evidence become several positives; --map renames roles', async () => {
  const t = createTransform({ type: 'qa' });
  assert.deepEqual(t(src({ question: 'How do I reset my PIN?', answer: ['Go to Settings > Card > PIN.', '', 'Go to Settings > Card > PIN.', 'Visit an ATM.'] })), [
    { type: 'retrieval', query: 'How do I reset my PIN?', pos: ['Go to Settings > Card > PIN.', 'Visit an ATM.'], neg: [] },
  ]);
  const mapped = createTransform({ type: 'qa', map: { question: 'q', answer: 'meta.best' } });
  assert.deepEqual(mapped(src({ q: 'why?', meta: { best: 'because', votes: 3 } })), [{ type: 'retrieval', query: 'why?', pos: ['because'], neg: [] }]);
  assert.deepEqual(mapped(src({ q: 'why?', meta: { best: 42.5 } })), [{ type: 'retrieval', query: 'why?', pos: ['42.5'], neg: [] }], 'numbers are text');
  assert.throws(() => mapped(src({ q: 'why?', meta: { best: { a: 1 } } }, 9)), /x\.jsonl:9: meta\.best: expected text, got \{"a":1\}/);
  assert.throws(() => createTransform({ type: 'qa', map: { bogus: 'x' } }), /"qa" has no role "bogus"/);

  const ce = createTransform({ type: 'claim-evidence' });
  // "label" would shadow a canonical field, so it is not carried as provenance; "id" is.
  assert.deepEqual(ce(src({ claim: 'The Eiffel Tower is in Berlin.', evidence: ['The Eiffel Tower is in Paris.'], label: 'REFUTES', id: 7 })), [
    { type: 'retrieval', query: 'The Eiffel Tower is in Berlin.', pos: ['The Eiffel Tower is in Paris.'], neg: [], id: 7 },
  ]);
});

test('dialogue: every user turn followed by an assistant turn (OpenAI and ShareGPT shapes)', () => {
  const t = createTransform({ type: 'dialogue', dataset: 'chat' });
  const openai = t(
    src({
      messages: [
        { role: 'system', content: 'You are helpful.' },
        { role: 'user', content: '你好，怎么查余额？' },
        { role: 'assistant', content: '打开App首页即可查看余额。' },
        { role: 'user', content: 'Thanks!' },
      ],
    }),
  );
  assert.deepEqual(openai, [{ type: 'retrieval', query: '你好，怎么查余额？', pos: ['打开App首页即可查看余额。'], neg: [], dataset: 'chat' }]);
  const sharegpt = t(
    src({
      conversations: [
        { from: 'human', value: 'Q1' },
        { from: 'gpt', value: 'A1' },
        { from: 'human', value: 'Q2' },
        { from: 'gpt', value: 'A2' },
      ],
    }),
  );
  assert.deepEqual(sharegpt.map((r) => [(r as { query: string }).query, (r as { pos: string[] }).pos[0]]), [
    ['Q1', 'A1'],
    ['Q2', 'A2'],
  ]);
  assert.throws(() => t(src({ messages: [{ role: 'assistant', content: 'hi' }] }, 4)), (e: unknown) => e instanceof DataError && e.reason === 'no-pairs' && e.line === 4);
  assert.throws(() => t(src({ messages: 'not a list' })), /messages: expected a list of turns/);
});

test('reading comprehension: context + Chinese connector + question → answer; SQuAD answers; custom connector', () => {
  assert.equal(RC_CONNECTOR_ZH, '\n请阅读上述文章，回答下列问题：');
  assert.deepEqual([...RC_CONNECTOR_ZH.slice(8)].map((c) => c.codePointAt(0)!.toString(16)), ['ff0c', '56de', '7b54', '4e0b', '5217', '95ee', '9898', 'ff1a']);
  const t = createTransform({ type: 'reading-comprehension' });
  const [r] = t(src({ context: '长城是中国古代的军事防御工程。', question: '长城是什么？', answers: { text: ['军事防御工程', '军事防御工程'], answer_start: [7, 7] } }));
  assert.deepEqual(r, { type: 'retrieval', query: '长城是中国古代的军事防御工程。\n请阅读上述文章，回答下列问题：长城是什么？', pos: ['军事防御工程'], neg: [] });
  const en = createTransform({ type: 'reading-comprehension', connector: '\nQuestion: ' });
  assert.equal((en(src({ context: 'C.', question: 'Q?', answer: 'A' }))[0] as { query: string }).query, 'C.\nQuestion: Q?');
  assert.throws(() => t(src({ context: 'c', question: 'q', answers: { text: [] } })), /answers: empty text/);
});

test('triples (MS MARCO style): negatives kept; TSV triples without a header', async () => {
  const p = writeText(dir, 'triples.tsv', 'what is rba\tThe Reserve Bank of Australia is the central bank.\tRBA stands for many things.\nbad line without tabs\n');
  const { out, errors } = await run(p, { type: 'triples' }, { header: ['query', 'pos', 'neg'] });
  assert.deepEqual(out, [{ type: 'retrieval', query: 'what is rba', pos: ['The Reserve Bank of Australia is the central bank.'], neg: ['RBA stands for many things.'] }]);
  assert.deepEqual(errors.map((e) => [e.line, e.field, e.reason]), [[2, 'pos (or positive, positives, pos_text)', 'missing-field']]);
  const t = createTransform({ type: 'triples' });
  assert.deepEqual(t(src({ query: 'q', positive: ['p1', 'p2'], negatives: ['n1', 'n2', 'n3'] })), [{ type: 'retrieval', query: 'q', pos: ['p1', 'p2'], neg: ['n1', 'n2', 'n3'] }]);
});

test('nli: names and SNLI/MNLI integers → 2/1/0, both orders, no-gold rows skipped, custom map', async () => {
  const p = writeText(
    dir,
    'nli.jsonl',
    [
      { premise: 'A man plays guitar.', hypothesis: 'A person makes music.', label: 0 },
      { sentence1: 'A dog runs.', sentence2: 'A cat sleeps.', label: 'Contradiction' },
      { sentence1: 'Kids play.', sentence2: 'Kids play outside.', label: '1' },
      { sentence1: 'x', sentence2: 'y', label: -1 },
      { sentence1: 'x', sentence2: 'y', gold_label: '-' },
      { sentence1: 'x', sentence2: 'y', label: 'maybe' },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  const { out, errors } = await run(p, { type: 'nli' });
  assert.deepEqual(
    out.map((r) => (r.type === 'pair' ? [r.text1, r.text2, r.score] : null)),
    [
      ['A man plays guitar.', 'A person makes music.', 2],
      ['A person makes music.', 'A man plays guitar.', 2],
      ['A dog runs.', 'A cat sleeps.', 0],
      ['A cat sleeps.', 'A dog runs.', 0],
      ['Kids play.', 'Kids play outside.', 1],
      ['Kids play outside.', 'Kids play.', 1],
    ],
  );
  assert.deepEqual(errors.map((e) => [e.line, e.reason]), [
    [4, 'no-gold-label'],
    [5, 'no-gold-label'],
    [6, 'bad-label'],
  ]);
  assert.match(errors[2]!.message, /label: unknown label "maybe"/);
  // A dataset whose integers mean 0 = contradiction, 1 = entailment (e.g. a binary NLI set).
  const custom = createTransform({ type: 'nli', labelMap: { '0': 0, '1': 2 }, bothOrders: false });
  assert.deepEqual(custom(src({ sentence1: 'a', sentence2: 'b', label: 1 })), [{ type: 'pair', text1: 'a', text2: 'b', score: 2 }]);
});

test('sts and binary pairs: graded scores as given, yes/no and true/false → 1/0, both orders', () => {
  const sts = createTransform({ type: 'sts', dataset: 'stsb' });
  assert.deepEqual(sts(src({ sentence1: 'A', sentence2: 'B', score: ' 3.8 ' })), [
    { type: 'pair', text1: 'A', text2: 'B', score: 3.8, dataset: 'stsb' },
    { type: 'pair', text1: 'B', text2: 'A', score: 3.8, dataset: 'stsb' },
  ]);
  assert.throws(() => sts(src({ sentence1: 'A', sentence2: 'B', score: 'n/a' }, 3)), (e: unknown) => e instanceof DataError && e.reason === 'bad-score' && e.message === 'x.jsonl:3: score: expected a number, got "n/a"');
  const bin = createTransform({ type: 'binary', bothOrders: true });
  const scores = ['yes', 'No', true, 'FALSE', 1, '0', '是'].map((label) => (bin(src({ sentence1: 'a', sentence2: 'b', label }))[0] as { score: number }).score);
  assert.deepEqual(scores, [1, 0, 1, 0, 1, 0, 1]);
  assert.equal(bin(src({ question1: 'q1', question2: 'q2', is_duplicate: 1 })).length, 2);
  assert.throws(() => bin(src({ sentence1: 'a', sentence2: 'b', label: 'perhaps' })), /bad|unknown label "perhaps"/);
});

test('cls: text + label (numbers become strings); --map label=category', () => {
  const t = createTransform({ type: 'cls', map: { label: 'category' }, dataset: 'banking77', instruction: 'Given a online banking query, find the corresponding intents' });
  assert.deepEqual(t(src({ text: 'Where is my card?', category: 'card_arrival' })), [
    { type: 'cls', text: 'Where is my card?', label: 'card_arrival', dataset: 'banking77', instruction: 'Given a online banking query, find the corresponding intents' },
  ]);
  const ints = createTransform({ type: 'cls' });
  assert.equal((ints(src({ text: 't', label: 3 }))[0] as { label: string }).label, '3');
  assert.throws(() => ints(src({ text: 't', label: '' })), /label: empty label/);
  assert.throws(() => ints(src({ text: 't' })), (e: unknown) => e instanceof DataError && e.reason === 'missing-field' && e.field === 'label');
});

test('canonical: validated as is; every problem names its field', () => {
  const t = createTransform({ type: 'canonical', dataset: 'renamed' });
  assert.deepEqual(t(src({ type: 'retrieval', query: 'q', pos: ['p'], source: 'synth' })), [{ type: 'retrieval', query: 'q', pos: ['p'], neg: [], source: 'synth', dataset: 'renamed' }]);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ type: 'retrieval', query: 'q', pos: [] }, /pos: empty list/],
    [{ type: 'retrieval', query: 'q', pos: ['p', 3] }, /pos\[1\]: expected a string, got 3/],
    [{ type: 'retrieval', query: 'q', pos: 'p' }, /pos: expected a list of strings/],
    [{ type: 'pair', text1: 'a', text2: 'b', score: '5' }, /score: expected a finite number, got "5"/],
    [{ type: 'cls', text: 'a' }, /label: missing/],
    [{ type: 'query', text: 'a' }, /type: unknown type "query"/],
    [{ text: 'a' }, /type: missing/],
  ];
  for (const [rec, re] of cases) assert.throws(() => t(src(rec, 7)), (e: unknown) => e instanceof DataError && e.line === 7 && re.test(e.message), JSON.stringify(rec));
});
