// Adapter for length filters: a token counter for a model folder. It uses the model area's
// `loadTokenizer(dir)` (src/model/tokenizer.ts, shared API 2); while that module is not there it
// falls back to the folder's tokenizer.json through @huggingface/tokenizers.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export type CountTokens = (text: string) => number;

interface TokenizerLike {
  encode(text: string): number[];
}

export async function loadTokenCounter(dir: string): Promise<CountTokens> {
  const spec = '../model/tokenizer.js'; // a variable: the module may not exist yet when this compiles
  try {
    const mod = (await import(spec)) as { loadTokenizer?: (dir: string) => Promise<TokenizerLike> };
    if (typeof mod.loadTokenizer === 'function') {
      const tok = await mod.loadTokenizer(dir);
      return (text) => tok.encode(text).length;
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const missing = (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') && /model[\\/]tokenizer/.test(err.message);
    if (!missing) throw e;
  }
  const file = join(dir, 'tokenizer.json');
  if (!existsSync(file)) throw new Error(`${dir}: no tokenizer.json (needed to count tokens)`);
  const cfgFile = join(dir, 'tokenizer_config.json');
  const config = existsSync(cfgFile) ? JSON.parse(readFileSync(cfgFile, 'utf8')) : {};
  const { Tokenizer } = await import('@huggingface/tokenizers');
  const tok = new Tokenizer(JSON.parse(readFileSync(file, 'utf8')), config);
  return (text) => tok.encode(text).ids.length;
}
