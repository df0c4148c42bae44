// Length in real tokens for the length-ratio constraints, from a Hugging Face tokenizer (e.g. the
// Qwen2.5 tokenizer QZhou uses) loaded by the model area (src/model/tokenizer.ts). A text's own tokens
// are counted, without special tokens: the constraints compare two texts, not model inputs.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { tokenLength, type LengthMeasure } from './constraints.js';

/** `path` is a tokenizer.json file or a folder holding one (tokenizer_config.json beside it is read if present). */
export async function tokenizerLength(path: string): Promise<LengthMeasure> {
  if (!existsSync(path)) throw new Error(`${path}: tokenizer not found`);
  const isDir = statSync(path).isDirectory();
  if (!isDir && basename(path) !== 'tokenizer.json') throw new Error(`${path}: expected a tokenizer.json file or the folder holding one`);
  const { loadTokenizer } = await import('../model/tokenizer.js');
  const tok = await loadTokenizer(isDir ? path : dirname(path));
  return tokenLength((text) => tok.encodeText(text).length);
}
