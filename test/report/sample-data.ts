// Report data for the report tests: two training stages with three task families, three models on two
// tasks, and user-provided names containing markup, so escaping is exercised everywhere.
import type { ReportData, TrainingPoint } from '../../src/report/index.js';

export const HOSTILE = `<script>window.__pwned = 1</script> & "quotes" | pipes *stars* _under_`;

export function sampleReport(): ReportData {
  const points: TrainingPoint[] = [];
  for (let s = 1; s <= 120; s++) points.push({ step: s, stage: 'stage1', family: 'retrieval', loss: 3 * Math.exp(-s / 40) + 0.3 + 0.05 * Math.sin(s), lr: 5e-4 * Math.min(1, s / 10), tokensPerSecond: 2000 + 50 * Math.cos(s) });
  const fams = ['retrieval', 'pair', 'cls'];
  for (let s = 121; s <= 300; s++) {
    const family = fams[s % 3]!;
    points.push({ step: s, stage: 'stage2', family, loss: (family === 'pair' ? 2 : 1.5) * Math.exp(-(s - 120) / 60) + 0.2, lr: 3e-4 * (1 - (s - 120) / 180), tokensPerSecond: 1800 + 30 * Math.sin(s) });
  }
  return {
    title: `qzhou pipeline: demo ${HOSTILE}`,
    generatedAt: '2026-11-27T05:00:00.000Z',
    facts: [
      { label: 'Run folder', value: '/tmp/runs/demo' },
      { label: 'Model', value: 'bert, 2 layers, hidden 128 (1.2M parameters)' },
      { label: 'Note', value: HOSTILE },
    ],
    steps: [
      { name: 'transform', description: 'raw sources → canonical records', status: 'ran', seconds: 3.2 },
      { name: 'synth', description: 'LLM synthesis', status: 'skipped', seconds: 0, note: 'no LLM endpoint configured' },
      { name: 'stage1', description: 'stage 1', status: 'resumed', seconds: 61.5 },
    ],
    evaluation: {
      models: [
        { name: 'demo', role: 'trained', description: 'trained (stage 1 + stage 2)' },
        { name: 'demo-init', role: 'init', description: 'random initialisation' },
        { name: 'tfidf', role: 'tfidf', description: 'TF-IDF' },
      ],
      rows: [
        { model: 'demo', task: 'Banking77Classification', split: 'test', metric: 'accuracy', score: 0.712345 },
        { model: 'demo-init', task: 'Banking77Classification', split: 'test', metric: 'accuracy', score: 0.1041 },
        { model: 'tfidf', task: 'Banking77Classification', split: 'test', metric: 'accuracy', score: 0.636136 },
        { model: 'demo', task: 'STSBenchmark', split: 'validation', metric: 'cosine_spearman', score: 0.70321 },
        { model: 'demo-init', task: 'STSBenchmark', split: 'validation', metric: 'cosine_spearman', score: 0.3035 },
        { model: 'tfidf', task: 'STSBenchmark', split: 'validation', metric: 'cosine_spearman', score: 0.7553 },
      ],
    },
    data: {
      sets: [
        { name: 'banking77', family: 'cls', dataset: 'banking77', origin: 'source', records: 10003 },
        { name: 'stsb', family: 'pair', dataset: 'stsb', origin: 'source', records: 11498 },
        { name: 'stsb-retrieval', family: 'retrieval', dataset: 'stsb-retrieval', origin: 'derived', records: 1406 },
        { name: HOSTILE, family: 'retrieval', dataset: 'x', origin: 'synthetic', records: 12 },
      ],
      sources: [
        { source: 'banking77', read: 10003, written: 10003, dropped: {}, warnings: {} },
        { source: 'stsb', read: 5749, written: 11498, dropped: { 'contaminated-exact': 4 }, warnings: { 'ragged-row': 197 } },
      ],
      mining: [{ name: 'stsb-retrieval', queries: 1406, negatives: 5600, short: 3, documents: 1380, dropped: { relative_margin: 17 } }],
    },
    synthesis: { status: 'skipped', notice: 'no LLM endpoint configured' },
    training: {
      stages: [
        { name: 'stage1', steps: 120, seconds: 61.5, batches: { retrieval: 120 }, settings: [{ label: 'lr', value: '5e-4' }] },
        { name: 'stage2', steps: 180, seconds: 95, batches: { retrieval: 60, pair: 60, cls: 60 }, settings: [{ label: 'lr', value: '3e-4' }] },
      ],
      points,
      stageStarts: [
        { name: 'stage1', step: 0 },
        { name: 'stage2', step: 120 },
      ],
    },
  };
}
