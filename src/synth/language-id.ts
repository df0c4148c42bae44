// A small script-based language identifier for the "keep the language" constraint. It tells
// scripts apart reliably (Han, kana, Hangul, Latin, Cyrillic, Arabic, …) and, inside Latin script,
// guesses a few major languages from function words. It is a guard against an LLM answering in
// the wrong language, not a general language detector.

/** Language (or script family when the language is not identified) of a text. */
export type LanguageCode =
  | 'zh' // Han without kana
  | 'ja' // Han and/or kana, with kana present
  | 'ko' // Hangul
  | 'en' | 'fr' | 'de' | 'es' | 'it' | 'pt' | 'nl' // Latin script, identified by function words
  | 'latin' // Latin script, language not identified
  | 'cyrillic' | 'greek' | 'arabic' | 'hebrew' | 'devanagari' | 'thai'
  | 'other' // letters of some other script
  | 'und'; // no letters at all (numbers, punctuation, empty)

const LATIN_LANGS = ['en', 'fr', 'de', 'es', 'it', 'pt', 'nl'] as const;
type LatinLang = (typeof LATIN_LANGS)[number];

// Frequent function words; chosen to be rare in the other listed languages.
const FUNCTION_WORDS: Record<LatinLang, readonly string[]> = {
  en: ['the', 'and', 'is', 'are', 'of', 'to', 'in', 'that', 'it', 'for', 'with', 'was', 'this', 'what', 'how', 'you', 'my', 'i', 'can', 'do', 'does', 'have', 'not', 'be', 'on', 'from', 'or', 'by', 'which', 'why'],
  fr: ['le', 'la', 'les', 'de', 'et', 'est', 'des', 'une', 'un', 'du', 'dans', 'pour', 'que', 'qui', 'pas', 'sur', 'au', 'aux', 'avec', 'ce', 'cette', 'sont', 'je', 'mon', 'ma', 'comment', 'vous', 'il', 'elle', 'nous', 'ne'],
  de: ['der', 'die', 'das', 'und', 'ist', 'nicht', 'ein', 'eine', 'zu', 'mit', 'den', 'von', 'auf', 'für', 'sich', 'dem', 'auch', 'wie', 'ich', 'es', 'sind', 'wird', 'kann', 'mein', 'meine', 'was', 'wir', 'sie', 'oder', 'bei'],
  es: ['el', 'los', 'las', 'y', 'es', 'en', 'del', 'una', 'por', 'con', 'para', 'que', 'se', 'su', 'al', 'lo', 'como', 'más', 'pero', 'sus', 'está', 'son', 'mi', 'cómo', 'qué', 'puedo', 'yo', 'muy', 'este', 'esta'],
  it: ['il', 'lo', 'gli', 'e', 'è', 'di', 'che', 'della', 'per', 'non', 'sono', 'una', 'del', 'con', 'si', 'le', 'da', 'come', 'anche', 'mio', 'mia', 'questo', 'questa', 'ho', 'nel', 'alla', 'dei', 'più', 'ma', 'io'],
  pt: ['o', 'os', 'as', 'e', 'é', 'de', 'do', 'da', 'dos', 'das', 'em', 'um', 'uma', 'para', 'com', 'não', 'que', 'se', 'por', 'mais', 'como', 'meu', 'minha', 'no', 'na', 'eu', 'você', 'são', 'está', 'foi'],
  nl: ['de', 'het', 'een', 'en', 'is', 'van', 'in', 'niet', 'dat', 'op', 'te', 'voor', 'met', 'zijn', 'er', 'ik', 'je', 'hoe', 'wat', 'mijn', 'ook', 'aan', 'om', 'maar', 'bij', 'kan', 'wordt', 'deze', 'dit', 'naar'],
};
const WORD_INDEX: Map<string, LatinLang[]> = (() => {
  const m = new Map<string, LatinLang[]>();
  for (const lang of LATIN_LANGS) for (const w of FUNCTION_WORDS[lang]) m.set(w, [...(m.get(w) ?? []), lang]);
  return m;
})();

type Script = 'han' | 'kana' | 'hangul' | 'latin' | 'cyrillic' | 'greek' | 'arabic' | 'hebrew' | 'devanagari' | 'thai' | 'other';

function scriptOf(cp: number): Script | null {
  if ((cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a)) return 'latin';
  if (cp < 0xc0) return null; // digits, punctuation, symbols, controls
  if ((cp >= 0xc0 && cp <= 0x24f && cp !== 0xd7 && cp !== 0xf7) || (cp >= 0x1e00 && cp <= 0x1eff)) return 'latin';
  if (cp >= 0x370 && cp <= 0x3ff) return 'greek';
  if ((cp >= 0x400 && cp <= 0x52f) || (cp >= 0x2de0 && cp <= 0x2dff) || (cp >= 0xa640 && cp <= 0xa69f)) return 'cyrillic';
  if (cp >= 0x590 && cp <= 0x5ff) return 'hebrew';
  if ((cp >= 0x600 && cp <= 0x6ff) || (cp >= 0x750 && cp <= 0x77f) || (cp >= 0xfb50 && cp <= 0xfdff) || (cp >= 0xfe70 && cp <= 0xfeff)) return 'arabic';
  if (cp >= 0x900 && cp <= 0x97f) return 'devanagari';
  if (cp >= 0xe00 && cp <= 0xe7f) return 'thai';
  if ((cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x31f0 && cp <= 0x31ff) || (cp >= 0xff66 && cp <= 0xff9d)) return cp === 0x30fc || cp === 0x30fb ? null : 'kana';
  if ((cp >= 0xac00 && cp <= 0xd7af) || (cp >= 0x1100 && cp <= 0x11ff) || (cp >= 0x3130 && cp <= 0x318f)) return 'hangul';
  if ((cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2ebef) || (cp >= 0xf900 && cp <= 0xfaff)) return 'han';
  if (/\p{L}/u.test(String.fromCodePoint(cp))) return 'other';
  return null;
}

/** Per-script weights: letters of alphabetic scripts are counted per word (≈ 1.5 Han characters). */
export interface ScriptProfile {
  han: number;
  kana: number;
  hangul: number;
  alphabetic: Partial<Record<Exclude<Script, 'han' | 'kana' | 'hangul'>, number>>;
  latinWords: string[];
}

export function scriptProfile(text: string): ScriptProfile {
  const p: ScriptProfile = { han: 0, kana: 0, hangul: 0, alphabetic: {}, latinWords: [] };
  let word = '';
  let wordScript: Script | null = null;
  const flush = () => {
    if (word && wordScript) {
      p.alphabetic[wordScript as keyof ScriptProfile['alphabetic']] = (p.alphabetic[wordScript as keyof ScriptProfile['alphabetic']] ?? 0) + 1;
      if (wordScript === 'latin') p.latinWords.push(word.toLowerCase());
    }
    word = '';
    wordScript = null;
  };
  for (const ch of text.normalize('NFC')) {
    const s = scriptOf(ch.codePointAt(0)!);
    if (s === 'han' || s === 'kana' || s === 'hangul') {
      flush();
      // Hangul syllable blocks carry about a morpheme each; count them like Han characters.
      p[s]++;
    } else if (s) {
      if (wordScript !== s) flush();
      wordScript = s;
      word += ch;
    } else {
      flush();
    }
  }
  flush();
  return p;
}

/** Identifies the language (or script) of `text`. */
export function detectLanguage(text: string): LanguageCode {
  const p = scriptProfile(text);
  const scores: [string, number][] = [
    ['cjk', p.han + p.kana],
    ['hangul', p.hangul],
    ...Object.entries(p.alphabetic).map(([k, v]) => [k, (v ?? 0) * 1.5] as [string, number]),
  ];
  scores.sort((x, y) => y[1] - x[1]);
  const [top, weight] = scores[0]!;
  if (weight === 0) return 'und';
  if (top === 'cjk') return p.kana > 0 && p.kana >= 0.05 * (p.han + p.kana) ? 'ja' : 'zh';
  if (top === 'hangul') return 'ko';
  if (top === 'latin') return guessLatin(p.latinWords);
  return top as LanguageCode;
}

function guessLatin(words: readonly string[]): LanguageCode {
  // A function word shared by k of the languages counts 1/k for each of them.
  const hits = new Map<LatinLang, number>();
  for (const w of words) {
    const langs = WORD_INDEX.get(w) ?? [];
    for (const lang of langs) hits.set(lang, (hits.get(lang) ?? 0) + 1 / langs.length);
  }
  const ranked = [...hits.entries()].sort((a, b) => b[1] - a[1]);
  const best = ranked[0];
  if (!best) return 'latin';
  const second = ranked[1]?.[1] ?? 0;
  // Demand some evidence and a clear lead; short or mixed texts stay "latin".
  if (best[1] >= 1.5 && best[1] >= 1.5 * second) return best[0];
  return 'latin';
}

const LATIN_CODES = new Set<LanguageCode>([...LATIN_LANGS, 'latin']);

/**
 * Whether `candidate` is in the same language as `original`. Undetermined texts (no letters) are
 * compatible with anything; an unidentified Latin-script text is compatible with any Latin language.
 */
export function sameLanguage(original: LanguageCode, candidate: LanguageCode): boolean {
  if (original === candidate || original === 'und' || candidate === 'und') return true;
  if (LATIN_CODES.has(original) && LATIN_CODES.has(candidate)) return original === 'latin' || candidate === 'latin';
  return false;
}

const NAMES: Record<LanguageCode, string> = {
  zh: 'Chinese', ja: 'Japanese', ko: 'Korean', en: 'English', fr: 'French', de: 'German', es: 'Spanish',
  it: 'Italian', pt: 'Portuguese', nl: 'Dutch', latin: 'the same language as the input', cyrillic: 'the same language as the input (Cyrillic script)',
  greek: 'Greek', arabic: 'the same language as the input (Arabic script)', hebrew: 'Hebrew', devanagari: 'the same language as the input (Devanagari script)',
  thai: 'Thai', other: 'the same language as the input', und: 'the same language as the input',
};

/** A name for prompts ("Chinese", or "the same language as the input" when unidentified). */
export function languageName(code: LanguageCode): string {
  return NAMES[code];
}
