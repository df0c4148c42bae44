// Public API of the report area: report data → report.html (self-contained), report.md and SVG plots.
export type {
  ReportData, ReportFact, ReportStep, EvalModelInfo, EvalScore, DataSetInfo, SourceInfo, MiningInfo, SynthJobInfo, SynthesisInfo,
  TrainingPoint, StageInfo,
} from './model.js';
export { writeReport, type WrittenReport } from './write.js';
export { renderHtml } from './html.js';
export { renderMarkdown } from './markdown.js';
export { buildPlots, movingAverage, FAMILY_COLORS, type Plot } from './plots.js';
export { lineChart, barChart, groupedBarChart, niceTicks, formatTick, downsample, PALETTE, type LineChartSpec, type BarChartSpec, type GroupedBarChartSpec, type Series, type Ticks } from './svg.js';
export { escapeHtml, escapeMarkdown, markdownCell } from './escape.js';
export { evaluationTable, formatSeconds, type Table } from './tables.js';
