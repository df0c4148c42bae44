// Escaping for every piece of text that goes into the report: HTML/SVG text and attributes, and
// Markdown (inline text and table cells). Run names, dataset names, labels and notices come from user
// files, so nothing is inserted raw.

const HTML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text or attribute value for HTML and SVG (XML); control characters other than tab/newline are dropped. */
export function escapeHtml(text: string): string {
  // eslint-disable-next-line no-control-regex
  return String(text).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '').replace(/[&<>"']/g, (c) => HTML[c]!);
}

/**
 * Inline Markdown text: characters that could start markup (emphasis, code, links, HTML, entities,
 * tables, strikethrough) and a leading block marker are backslash-escaped; line breaks become spaces.
 */
export function escapeMarkdown(text: string): string {
  return String(text)
    .replace(/\r?\n/g, ' ')
    .replace(/[\\`*_[\]<>|~&]/g, (c) => `\\${c}`)
    .replace(/^(\s*)([#+\-=]|\d+[.)])/, (_m, sp: string, mark: string) => `${sp}${mark.replace(/([#+\-=.)])$/, '\\$1')}`);
}

/** A Markdown table cell: escaped inline text (pipes included), no line breaks. */
export function markdownCell(text: string): string {
  return escapeMarkdown(text).replace(/\s+/g, ' ').trim();
}
