/** Longest name kept; a longer one is cut (a name is a greeting, not a place to store text). */
export const MAX_NAME_CHARS = 200;

// C0 controls and DEL: CR and LF could forge a mail header, the rest are never part of a name.
const CONTROL_RUN = /[\u0000-\u001f\u007f]+/g;

/**
 * A reader's name as digestmail stores and greets it, from whatever a form, a CSV file or an old
 * row holds: each run of control characters becomes one space, the ends are trimmed, and the
 * result is cut at MAX_NAME_CHARS characters. `null` when nothing is left, so "no name" has one form.
 */
export function cleanName(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  const cleaned = value.replace(CONTROL_RUN, ' ').trim();
  if (cleaned === '') return null;
  if (cleaned.length <= MAX_NAME_CHARS) return cleaned;
  // Cut by code points, so the cut never leaves half of a surrogate pair (an emoji, a rare CJK
  // character) behind.
  return Array.from(cleaned).slice(0, MAX_NAME_CHARS).join('');
}
