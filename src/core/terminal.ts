/**
 * Text from outside (bounce diagnostics, addresses, subjects) printed on a terminal: control
 * characters — escape sequences that clear the screen, set the window title or move the cursor —
 * become spaces, so a remote server's words can only ever be words.
 */
export function forTerminal(text: string): string {
  // C0 controls (tab and newline too: one value is one line), DEL, C1 controls, and the Unicode
  // line/paragraph separators and bidi overrides that reorder what the reader sees.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, ' ');
}
