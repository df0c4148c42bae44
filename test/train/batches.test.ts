import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toTrainBatch } from '../../src/train/batches.js';

const P = (i: string) => `Instruct: ${i}\nQuery: `;

test('retrieval batches: instruction on queries only (default), negatives pooled in order', () => {
  const b = toTrainBatch(
    {
      family: 'retrieval',
      dataset: 'msmarco',
      step: 3,
      examples: [
        { query: 'q1', pos: 'p1', negs: ['n11', 'n12'] },
        { query: 'q2', pos: 'p2', negs: ['n21'], instruction: 'Own' },
      ],
    },
    { source: { instruction: 'Web' } },
  );
  assert.deepEqual(b, { family: 'retrieval', dataset: 'msmarco', queries: [`${P('Web')}q1`, `${P('Own')}q2`], positives: ['p1', 'p2'], negatives: ['n11', 'n12', 'n21'] });
});

test('cls batches keep the labels of anchors and negatives; instruction on both sides by default', () => {
  const b = toTrainBatch(
    { family: 'cls', dataset: 'b77', step: 0, examples: [{ query: 'a', pos: 'a2', negs: ['x', 'y'], label: 'L1', negLabels: ['L2', 'L3'] }, { query: 'b', pos: 'b2', negs: ['z'], label: 'L2', negLabels: ['L1'] }] },
    { source: { instruction: 'Intent' } },
  );
  assert.equal(b.family, 'cls');
  if (b.family !== 'cls') return;
  assert.deepEqual(b.anchors, [`${P('Intent')}a`, `${P('Intent')}b`]);
  assert.deepEqual(b.positives, [`${P('Intent')}a2`, `${P('Intent')}b2`]);
  assert.deepEqual(b.negatives, [`${P('Intent')}x`, `${P('Intent')}y`, `${P('Intent')}z`]);
  assert.deepEqual(b.labels, ['L1', 'L2']);
  assert.deepEqual(b.negativeLabels, ['L2', 'L3', 'L1']);
  assert.throws(() => toTrainBatch({ family: 'cls', dataset: 'x', step: 0, examples: [{ query: 'a', pos: 'b', negs: ['c'], label: 'L', negLabels: [] }] }), /1 negatives but 0 negative labels/);
});

test('pair batches: scores kept; no instruction means no prefix; sides "query" leaves text2 bare', () => {
  const examples = [{ text1: 's1', text2: 's2', score: 4.2 }];
  assert.deepEqual(toTrainBatch({ family: 'pair', dataset: 'stsb', step: 0, examples }), { family: 'pair', dataset: 'stsb', text1: ['s1'], text2: ['s2'], scores: [4.2] });
  const q = toTrainBatch({ family: 'pair', dataset: 'stsb', step: 0, examples }, { source: { instruction: 'Sim', sides: 'query' } });
  assert.deepEqual(q.family === 'pair' && [q.text1, q.text2], [[`${P('Sim')}s1`], ['s2']]);
});
