// Benchmark definitions: which tasks, splits and subsets make up MTEB(eng, v2) and MTEB(cmn, v1).
// MTEB(cmn, v1) has two conventions (mteb-semantics.md §9.3):
// - 'published' (default): MultilingualSentiment on validation only; ATEC, BQ, STSB on test. This gives the
//   paper's and leaderboard's QZhou numbers (76.99 / 78.58).
// - '2.x': mteb 2.x's definition, MultilingualSentiment = mean of validation and test (77.02 / 78.60).
import { getTask, type TaskMetadata } from './tasks.js';

export interface BenchmarkTask {
  task: string;
  splits: string[];
  subsets: string[];
}

export interface Benchmark {
  name: string;
  description: string;
  tasks: BenchmarkTask[];
}

export type CmnConvention = 'published' | '2.x';

const ENG_SUBSETS: Record<string, string> = {
  AmazonCounterfactualClassification: 'en',
  MTOPDomainClassification: 'en',
  MassiveIntentClassification: 'en',
  MassiveScenarioClassification: 'en',
  STS17: 'en-en',
  'STS22.v2': 'en',
};

const ENG_V2 = [
  'ArguAna', 'CQADupstackGamingRetrieval', 'CQADupstackUnixRetrieval', 'ClimateFEVERHardNegatives', 'FEVERHardNegatives', 'FiQA2018',
  'HotpotQAHardNegatives', 'SCIDOCS', 'TRECCOVID', 'Touche2020Retrieval.v3', 'AskUbuntuDupQuestions', 'MindSmallReranking',
  'ArXivHierarchicalClusteringP2P', 'ArXivHierarchicalClusteringS2S', 'BiorxivClusteringP2P.v2', 'MedrxivClusteringP2P.v2',
  'MedrxivClusteringS2S.v2', 'StackExchangeClustering.v2', 'StackExchangeClusteringP2P.v2', 'TwentyNewsgroupsClustering.v2',
  'AmazonCounterfactualClassification', 'Banking77Classification', 'ImdbClassification', 'MTOPDomainClassification',
  'MassiveIntentClassification', 'MassiveScenarioClassification', 'ToxicConversationsClassification',
  'TweetSentimentExtractionClassification', 'SprintDuplicateQuestions', 'TwitterSemEval2015', 'TwitterURLCorpus', 'BIOSSES',
  'SICK-R', 'STS12', 'STS13', 'STS14', 'STS15', 'STS17', 'STS22.v2', 'STSBenchmark', 'SummEvalSummarization.v2',
];

const CMN_V1: [string, string[]][] = [
  ['T2Retrieval', ['dev']], ['MMarcoRetrieval', ['dev']], ['DuRetrieval', ['dev']], ['CovidRetrieval', ['dev']], ['CmedqaRetrieval', ['dev']],
  ['EcomRetrieval', ['dev']], ['MedicalRetrieval', ['dev']], ['VideoRetrieval', ['dev']], ['T2Reranking', ['dev']], ['MMarcoReranking', ['dev']],
  ['CMedQAv1-reranking', ['test']], ['CMedQAv2-reranking', ['test']], ['Ocnli', ['validation']], ['Cmnli', ['validation']],
  ['CLSClusteringS2S', ['test']], ['CLSClusteringP2P', ['test']], ['ThuNewsClusteringS2S', ['test']], ['ThuNewsClusteringP2P', ['test']],
  ['ATEC', ['test']], ['BQ', ['test']], ['LCQMC', ['test']], ['PAWSX', ['test']], ['STSB', ['test']], ['AFQMC', ['validation']], ['QBQTC', ['test']],
  ['TNews', ['validation']], ['IFlyTek', ['validation']], ['MultilingualSentiment', ['validation']], ['JDReview', ['test']],
  ['OnlineShopping', ['test']], ['Waimai', ['test']],
];

export const BENCHMARK_NAMES: readonly string[] = ['MTEB(eng, v2)', 'MTEB(cmn, v1)'];

function normalise(name: string): string {
  return name.toLowerCase().replace(/\s+/g, '');
}

/** A benchmark by name ("MTEB(eng, v2)", "MTEB(cmn, v1)"; spacing and case are ignored). */
export function getBenchmark(name: string, convention: CmnConvention = 'published'): Benchmark {
  const key = normalise(name);
  if (key === normalise('MTEB(eng, v2)')) {
    return {
      name: 'MTEB(eng, v2)',
      description: 'MTEB English v2: 41 tasks, test splits, English subsets of the multilingual tasks',
      tasks: ENG_V2.map((task) => ({ task, splits: ['test'], subsets: [ENG_SUBSETS[task] ?? 'default'] })),
    };
  }
  if (key === normalise('MTEB(cmn, v1)')) {
    return {
      name: 'MTEB(cmn, v1)',
      description:
        convention === '2.x'
          ? 'C-MTEB, 31 tasks, mteb 2.x definition (MultilingualSentiment = mean of validation and test)'
          : 'C-MTEB, 31 tasks, the published convention (MultilingualSentiment on validation only)',
      tasks: CMN_V1.map(([task, splits]) => ({
        task,
        splits: task === 'MultilingualSentiment' && convention === '2.x' ? ['validation', 'test'] : splits,
        subsets: ['default'],
      })),
    };
  }
  throw new Error(`unknown benchmark "${name}"; known: ${BENCHMARK_NAMES.join(', ')}`);
}

/** The registry metadata of every task in a benchmark. */
export function benchmarkTasks(b: Benchmark): TaskMetadata[] {
  return b.tasks.map((t) => getTask(t.task));
}
