/**
 * The one HTML escaper of digestmail: web pages, the console, MJML templates, system mail and the
 * digest's own Markdown renderer all use it, so what is safe in one place is safe in every other.
 *
 * It escapes the five characters that can end a text node or a quoted attribute (`& < > " '`), and
 * the backtick, which old Internet Explorer also took as an attribute quote: one rule for text and
 * attribute values alike, so no caller has to know which of the two it is filling.
 */
const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

const SPECIAL = /[&<>"'`]/g;

export function escapeHtml(value: string): string {
  return value.replace(SPECIAL, (c) => ESCAPES[c]!);
}
