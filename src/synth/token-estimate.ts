// Token estimates before a request is sent (for the tokens-per-minute budget and --dry-run).
// Without the provider's tokenizer we count CJK/kana/Hangul characters as one token each and
// everything else at four characters per token, which is close for GPT- and Qwen-family BPE
// vocabularies; the client corrects its budget with the `usage` field of each answer.
import type { ChatMessage } from './llm-client.js';

function isWideScript(cp: number): boolean {
  return (
    (cp >= 0x2e80 && cp <= 0x9fff) || // CJK radicals … unified ideographs, kana, bopomofo
    (cp >= 0xac00 && cp <= 0xd7af) || // Hangul syllables
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xff00 && cp <= 0xffef) || // full-width forms
    (cp >= 0x20000 && cp <= 0x2ffff)
  );
}

/** Estimated number of tokens of `text`. */
export function estimateTokens(text: string): number {
  let wide = 0;
  let other = 0;
  for (const ch of text) {
    if (isWideScript(ch.codePointAt(0)!)) wide++;
    else other++;
  }
  return wide + Math.ceil(other / 4);
}

/** Estimated prompt tokens of a chat request: content plus the per-message framing tokens. */
export function estimateChatTokens(messages: readonly ChatMessage[]): number {
  let n = 3; // reply priming
  for (const m of messages) n += 4 + estimateTokens(m.content);
  return n;
}
