// Sentence splitting for the paraphrase constraints: a text with two or more sentences is a
// "paragraph" (lower difference threshold, plus the no-copied-adjacent-sentences rule).
// Rule-based: split after . ! ? … and their full-width forms (plus any closing quotes/brackets),
// and at line breaks. A Latin period followed by a lower-case letter or a digit does not end a
// sentence ("e.g. this", "v1.2"), which covers most abbreviations.

const TERMINATORS = new Set(['.', '!', '?', '…', '。', '！', '？', '｡', '؟', '।', '‼', '⁇', '⁈', '⁉']);
const CLOSERS = new Set(['"', "'", '”', '’', '»', ')', ']', '}', '」', '』', '）', '】', '》', '〉', '〕', '］']);
// Terminators after which no space is needed (CJK text has none).
const FULL_WIDTH = new Set(['。', '！', '？', '｡', '…']);

/** Splits `text` into trimmed, non-empty sentences. */
export function splitSentences(text: string): string[] {
  const chars = Array.from(text);
  const out: string[] = [];
  let cur = '';
  const push = () => {
    const s = cur.trim();
    if (s) out.push(s);
    cur = '';
  };
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '\n' || ch === '\r' || ch === '\u2029') {
      push();
      continue;
    }
    cur += ch;
    if (!TERMINATORS.has(ch)) continue;
    // Absorb repeated terminators and closing quotes/brackets: `?!`, `."`, `。」`.
    let j = i + 1;
    while (j < chars.length && (TERMINATORS.has(chars[j]!) || CLOSERS.has(chars[j]!))) cur += chars[j++];
    i = j - 1;
    const next = chars[j];
    if (next === undefined) break;
    if (FULL_WIDTH.has(ch)) {
      push();
      continue;
    }
    if (!/\s/u.test(next)) continue; // "3.5", "a.b.c", "U.S.A."
    let k = j;
    while (k < chars.length && /[ \t\u00a0]/u.test(chars[k]!)) k++;
    const after = chars[k];
    if (ch === '.' && after !== undefined && /[\p{Ll}\p{N}]/u.test(after)) continue; // "e.g. the", "No. 5"
    push();
  }
  push();
  return out;
}

/** Whether `text` counts as a paragraph (two or more sentences) for the paraphrase constraints. */
export function isParagraph(text: string): boolean {
  return splitSentences(text).length >= 2;
}
