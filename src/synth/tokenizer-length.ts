// Length in real tokens for the length-ratio constraints, from a Hugging Face tokenizer.json
// (e.g. the Qwen2.5 tokenizer QZhou uses), through @huggingface/tokenizers.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tokenLength, type LengthMeasure } from './constraints.js';

/** `path` is a tokenizer.json file or a folder holding one (tokenizer_config.json is read if present). */
export async function tokenizerLength(path: string): Promise<LengthMeasure> {
  if (!existsSync(path)) throw new Error(`${path}: tokenizer not found`);
  const file = statSync(path).isDirectory() ? join(path, 'tokenizer.json') : path;
  if (!existsSync(file)) throw new Error(`${file}: not found (expected a tokenizer.json)`);
  let json: object;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as object;
  } catch (e) {
    throw new Error(`${file}: invalid JSON (${(e as Error).message})`);
  }
  const cfgFile = join(dirname(file), 'tokenizer_config.json');
  const config = existsSync(cfgFile) ? (JSON.parse(readFileSync(cfgFile, 'utf8')) as object) : {};
  const { Tokenizer } = await import('@huggingface/tokenizers');
  const tok = new Tokenizer(json, config);
  return tokenLength((text) => tok.encode(text, { add_special_tokens: false }).ids.length);
}
