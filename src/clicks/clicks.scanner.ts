/**
 * Telling link scanners from readers. Mail security gateways (Microsoft Defender / Safe Links,
 * Mimecast, Proofpoint, Barracuda, …) fetch every link of a message seconds after it arrives;
 * counting those as readers is the most common lie in newsletter statistics. A click counts as a
 * scanner's when any of these holds (the README states the same rule):
 *
 * 1. it is a HEAD request (browsers follow links with GET);
 * 2. its User-Agent is empty or names a known scanner, preview fetcher or HTTP library;
 * 3. (decided after the fact) every link of the message was opened within BURST_SECONDS of its
 *    delivery — a burst no reader makes, and what gateways do. Needs at least two links.
 *
 * Only the verdict is stored, never the User-Agent or the address it came from.
 */

/** The window after delivery within which a click on every link is a scanner's burst. */
export const BURST_SECONDS = 120;

const SCANNER_AGENTS =
  /bingpreview|microsoft office|ms-office|safelinks|microsoft-?defender|mimecast|proofpoint|barracuda|google-safety|googleimageproxy|yahoo! slurp|headlesschrome|phantomjs|python-requests|python-urllib|go-http-client|curl\/|wget|libwww|java\/|okhttp|apache-httpclient|symantec|forcepoint|sophos|trend ?micro|ironport|cisco|fortinet|zscaler|checkpoint|scanner|crawler|spider|\bbot\b|bot\/|preview/i;

export type { ClickKind } from '../db/db.types.ts';
import type { ClickKind } from '../db/db.types.ts';

export function firstVerdict(method: string, userAgent: string | undefined): ClickKind {
  if (method.toUpperCase() === 'HEAD') return 'scanner';
  const agent = (userAgent ?? '').trim();
  if (agent === '' || SCANNER_AGENTS.test(agent)) return 'scanner';
  return 'human';
}
