// Token counts for the length filters and `data inspect`: the model folder's tokenizer (shared API 2,
// src/model/tokenizer.ts), counting the ids the model sees for one text (special tokens included, e.g.
// [CLS]/[SEP] for BERT, none for Qwen). Imported lazily: the tokenizer runtime loads only when asked for.

export type CountTokens = (text: string) => number;

export async function loadTokenCounter(dir: string): Promise<CountTokens> {
  const { loadTokenizer } = await import('../model/tokenizer.js');
  const tok = await loadTokenizer(dir);
  return (text) => tok.encode(text).length;
}
