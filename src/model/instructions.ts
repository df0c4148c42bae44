// QZhou-Embedding's per-task instructions (GH task_to_instructions_v2.json and run_cmteb_all.py's
// instruction_map, transcribed in shared/reference/recipe.md §1.3), shipped as data.
// `sides: 'both'` (B) puts the instruction on every text; `'query'` (Q) only on queries.

export type InstructionSides = 'both' | 'query';

export interface TaskInstruction {
  instruction: string;
  sides: InstructionSides;
}

/** The QZhou prompt template (the evaluation scripts' form; note the space after "Query:"). */
export const QZHOU_PROMPT_TEMPLATE = 'Instruct: {instruction}\nQuery: ';

/** Default retrieval instruction of the QZhou scripts. */
export const DEFAULT_RETRIEVAL_INSTRUCTION = 'Given a web search query, retrieve relevant passages that answer the query';

type Entry = [string, TaskInstruction];
const B = (instruction: string, tasks: string[]): Entry[] => tasks.map((t) => [t, { instruction, sides: 'both' }]);
const Q = (instruction: string, tasks: string[]): Entry[] => tasks.map((t) => [t, { instruction, sides: 'query' }]);

const SIMILAR = 'Retrieve semantically similar text';

/** MTEB(eng, v2) instructions. */
export const MTEB_ENG_V2_INSTRUCTIONS: ReadonlyMap<string, TaskInstruction> = new Map<string, TaskInstruction>([
  ...B(SIMILAR, ['BIOSSES', 'SICK-R', 'STS12', 'STS13', 'STS14', 'STS15', 'STS17', 'STS22.v2', 'STSBenchmark', 'SummEvalSummarization.v2']),
  ...B('Classify a given Amazon customer review text as either counterfactual or not-counterfactual', ['AmazonCounterfactualClassification']),
  ...B('Given a online banking query, find the corresponding intents', ['Banking77Classification']),
  ...B('Classify the sentiment expressed in the given movie review text from the IMDB dataset', ['ImdbClassification']),
  ...B('Classify the intent domain of the given utterance in task-oriented conversation', ['MTOPDomainClassification']),
  ...B('Given a user utterance as query, find the user intents', ['MassiveIntentClassification']),
  ...B('Given a user utterance as query, find the user scenarios', ['MassiveScenarioClassification']),
  ...B('Classify the given comments as either toxic or not toxic', ['ToxicConversationsClassification']),
  ...B('Classify the sentiment of a given tweet as either positive, negative, or neutral', ['TweetSentimentExtractionClassification']),
  ...B('Identify the main and secondary category of Arxiv papers based on the titles and abstracts', ['ArXivHierarchicalClusteringP2P']),
  ...B('Identify the main and secondary category of Arxiv papers based on the titles', ['ArXivHierarchicalClusteringS2S']),
  ...B('Identify the main category of Biorxiv papers based on the titles and abstracts', ['BiorxivClusteringP2P.v2']),
  ...B('Identify the main category of Medrxiv papers based on the titles and abstracts', ['MedrxivClusteringP2P.v2']),
  ...B('Identify the main category of Medrxiv papers based on the titles', ['MedrxivClusteringS2S.v2']),
  ...B('Identify the topic or theme of StackExchange posts based on the titles', ['StackExchangeClustering.v2']),
  ...B('Identify the topic or theme of StackExchange posts based on the given paragraphs', ['StackExchangeClusteringP2P.v2']),
  ...B('Identify the topic or theme of the given news articles', ['TwentyNewsgroupsClustering.v2']),
  ...B('Retrieve duplicate questions from Sprint forum', ['SprintDuplicateQuestions']),
  ...B('Retrieve tweets that are semantically similar to the given tweet', ['TwitterSemEval2015', 'TwitterURLCorpus']),
  ...B('Retrieve duplicate questions from AskUbuntu forum', ['AskUbuntuDupQuestions']),
  ...B('Retrieve relevant news articles based on user browsing history', ['MindSmallReranking']),
  ...B('Given a claim, find documents that refute the claim', ['ArguAna']),
  ...B('Given a question, retrieve detailed question descriptions from Stackexchange that are duplicates to the given question', ['CQADupstackGamingRetrieval', 'CQADupstackUnixRetrieval']),
  ...Q('Given a claim about climate change, retrieve documents that support or refute the claim', ['ClimateFEVERHardNegatives']),
  ...Q('Given a claim, retrieve documents that support or refute the claim', ['FEVERHardNegatives']),
  ...Q('Given a financial question, retrieve user replies that best answer the question', ['FiQA2018']),
  ...Q('Given a multi-hop question, retrieve documents that can help answer the question', ['HotpotQAHardNegatives']),
  ...Q('Given a scientific paper title, retrieve paper abstracts that are cited by the given paper', ['SCIDOCS']),
  ...Q('Given a query on COVID-19, retrieve documents that answer the query', ['TRECCOVID']),
  ...Q('Given a question, retrieve detailed and persuasive arguments that answer the question', ['Touche2020Retrieval.v3']),
]);

/** MTEB(cmn, v1) = C-MTEB instructions. */
export const CMTEB_INSTRUCTIONS: ReadonlyMap<string, TaskInstruction> = new Map<string, TaskInstruction>([
  ...B(SIMILAR, ['ATEC', 'BQ', 'LCQMC', 'PAWSX', 'STSB', 'AFQMC', 'QBQTC']),
  ...B(`${SIMILAR}.`, ['Ocnli', 'Cmnli']),
  ...B('Classify the fine-grained category of the given news title', ['TNews']),
  ...B('Given an App description text, find the appropriate fine-grained category', ['IFlyTek']),
  ...B('Classify sentiment of the customer review into positive, neutral, or negative', ['MultilingualSentiment']),
  ...B('Classify the customer review for iPhone on e-commerce platform into positive or negative', ['JDReview']),
  ...B('Classify the customer review for online shopping into positive or negative', ['OnlineShopping']),
  ...B('Classify the customer review from a food takeaway platform into positive or negative', ['Waimai']),
  ...B('Identify the main category of scholar papers based on the titles and abstracts', ['CLSClusteringP2P']),
  ...B('Identify the main category of scholar papers based on the titles', ['CLSClusteringS2S']),
  ...B('Identify the topic or theme of the given news articles based on the titles', ['ThuNewsClusteringS2S']),
  ...B('Identify the topic or theme of the given news articles based on the titles and contents', ['ThuNewsClusteringP2P']),
  ...B('Given a Chinese search query, retrieve web passages that answer the question', ['T2Reranking', 'MMarcoReranking']),
  ...B('Given a Chinese community medical question, retrieve replies that best answer the question', ['CMedQAv1-reranking', 'CMedQAv2-reranking']),
  ...Q('Given a Chinese search query, retrieve web passages that answer the question', ['T2Retrieval', 'DuRetrieval']),
  ...Q(DEFAULT_RETRIEVAL_INSTRUCTION, ['MMarcoRetrieval']),
  ...Q('Given a Chinese community medical question, retrieve replies that best answer the question', ['CmedqaRetrieval']),
  ...Q('Given a question on COVID-19, retrieve news articles that answer the question', ['CovidRetrieval']),
  ...Q('Given a user query from an e-commerce website, retrieve description sentences of relevant products', ['EcomRetrieval']),
  ...Q('Given a medical question, retrieve user replies that best answer the question', ['MedicalRetrieval']),
  ...Q('Given a video search query, retrieve the titles of relevant videos', ['VideoRetrieval']),
]);

/** Looks a task up in both tables (names are unique across them). */
export function taskInstruction(task: string): TaskInstruction | undefined {
  return MTEB_ENG_V2_INSTRUCTIONS.get(task) ?? CMTEB_INSTRUCTIONS.get(task);
}

/** Formats the prompt prefix for an instruction; empty instruction → no prefix. */
export function formatPrompt(instruction: string | undefined, template = QZHOU_PROMPT_TEMPLATE): string {
  if (!instruction) return '';
  // A replacer function: a string replacement would expand `$&`, `$$`, `$'` inside the instruction.
  return template.replace('{instruction}', () => instruction);
}

/**
 * The instruction for one side of a task: queries always get the task's instruction; documents get
 * it only when the task puts it on both sides. Unknown task → undefined (no prefix).
 */
export function instructionForSide(task: string, kind: 'query' | 'document'): string | undefined {
  const t = taskInstruction(task);
  if (!t) return undefined;
  if (kind === 'query' || t.sides === 'both') return t.instruction;
  return undefined;
}
