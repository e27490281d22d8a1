/**
 * Text that came from outside (addresses and diagnostics from bounce mail, notes, names) must not
 * drive the terminal it is printed on: an ESC or OSC sequence can clear the screen, set the window
 * title, or hide what follows. Every CLI print of such text goes through `forTerminal`.
 *
 * Written by hand: it is one regular expression over well-defined Unicode ranges, and the libraries
 * that do this (strip-ansi and kin) only remove complete, well-formed escape sequences, leaving a
 * lone ESC, BEL or C1 control in place.
 */

// C0 controls (tab and newline included: a cell or a line of ours never contains them from outside),
// DEL, C1 controls, and the bidirectional overrides/isolates that reorder what a terminal shows.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Each control character becomes U+FFFD, so that something was there stays visible but inert. */
export function forTerminal(text: string): string {
  return text.replace(CONTROL, '\uFFFD');
}

/** True when the text holds nothing `forTerminal` would replace. */
export function isTerminalSafe(text: string): boolean {
  CONTROL.lastIndex = 0;
  return !CONTROL.test(text);
}
