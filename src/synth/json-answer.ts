// Extracts the JSON object from a chat answer. Models asked for "JSON only" still wrap it in
// ```json fences or add a sentence around it; anything that is not one parseable JSON object
// (with balanced braces) is `malformed_json`.

export type ParsedAnswer = { ok: true; value: unknown } | { ok: false; error: string };

export function parseJsonAnswer(content: string): ParsedAnswer {
  const text = content.trim();
  if (text === '') return { ok: false, error: 'the answer is empty' };
  const direct = tryParse(text);
  if (direct.ok) return direct;
  const fenced = /```(?:json|JSON)?\s*\n?([\s\S]*?)```/.exec(text);
  if (fenced) {
    const inner = tryParse(fenced[1]!.trim());
    if (inner.ok) return inner;
  }
  const span = firstBalancedObject(text);
  if (span !== null) {
    const inner = tryParse(span);
    if (inner.ok) return inner;
    return { ok: false, error: inner.error };
  }
  return { ok: false, error: `no JSON object found (${direct.error})` };
}

function tryParse(text: string): ParsedAnswer {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** The first `{...}` span with balanced braces outside string literals, or null. */
function firstBalancedObject(text: string): string | null {
  const start = text.indexOf('{');
  if (start < 0) return null;
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}') {
      depth--;
      if (depth === 0) return text.slice(start, i + 1);
    }
  }
  return null;
}
