/** Plain-text tables for terminals; every command also has --json for scripts. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => displayWidth(r[i] ?? ''))));
  return cells
    .map((r) =>
      r
        .map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - displayWidth(c))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** CJK characters take two columns in a terminal. */
function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text)
    width +=
      /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(
        ch,
      )
        ? 2
        : 1;
  return width;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Text that came from outside (addresses and diagnostics in bounce mail, names in imports) as it may
 * reach a terminal: C0 and C1 control characters and DEL removed (escape sequences can clear the
 * screen, retitle the window or hide what follows; bidi overrides reorder what is shown), tabs and line breaks turned into spaces so one
 * record stays on one line.
 */
export function terminalSafe(text: string): string {
  return (
    text
      .replace(/[\t\n\r\u2028\u2029]+/g, ' ')
      // C0, DEL, C1; and the bidi overrides that make a terminal show text in another order.
      .replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '')
  );
}
