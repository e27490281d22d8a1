import type { Digest, DigestNote } from './digest.types.ts';

/**
 * The digest linter: what an editor should look at before sending, each with the line it is about
 * and a stable code (for `digest check --json` and the console). The parser's own notes (dropped
 * links and images, list-reading notes, unknown front matter) come first in line order together with
 * these checks; nothing here changes the digest.
 */

/** Gmail clips an HTML part over 102 KB (102 × 1024 bytes); past 80 % of it a digest is close. */
export const GMAIL_CLIP_BYTES = 102 * 1024;
export const SIZE_WARNING_SHARE = 0.8;

/** How far `date` may be from now before it is more likely a typo than an intent. */
const DATE_TOLERANCE_MS = 24 * 60 * 60 * 1000;

export interface LintOptions {
  /** The moment "now" is, for the date check. */
  now: Date;
  /**
   * Sizes of the HTML the reader gets, measured by whoever rendered it: `decoded` is the HTML itself,
   * `sent` the HTML part as encoded in the MIME message (quoted-printable or base64 grow it).
   */
  htmlBytes?: { decoded: number; sent: number };
}

export function lintDigest(digest: Digest, options: LintOptions): DigestNote[] {
  const notes: DigestNote[] = [...digest.notes];

  const firstSeen = new Map<string, number>();
  for (const link of digest.links) {
    if (/^http:/i.test(link.href)) {
      notes.push({
        line: link.line,
        code: 'link.not_https',
        message: `link "${short(link.href)}" is not https (mail clients and readers warn about plain http)`,
      });
    }
    if (/^mailto:/i.test(link.href)) continue;
    const key = sameLinkKey(link.href);
    const first = firstSeen.get(key);
    if (first === undefined) firstSeen.set(key, link.line);
    else {
      notes.push({
        line: link.line,
        code: 'link.duplicate',
        message: `link "${short(link.href)}" already appears on line ${first}`,
      });
    }
  }

  digest.items.forEach((item, index) => {
    const which = `item ${index + 1} ("${short(item.headline, 40)}")`;
    if (!item.url) {
      notes.push({ line: item.line, code: 'item.no_link', message: `${which} has no link` });
    }
    if (item.summaryText.trim() === '') {
      notes.push({ line: item.line, code: 'item.no_summary', message: `${which} has no summary` });
    }
  });

  for (const image of digest.images) {
    if (image.alt.trim() === '') {
      notes.push({
        line: image.line,
        code: 'image.no_alt',
        message: `image "${short(image.src)}" has no alt text (readers with images off or a screen reader get nothing)`,
      });
    }
  }

  if (options.htmlBytes) {
    const limit = GMAIL_CLIP_BYTES * SIZE_WARNING_SHARE;
    const { decoded, sent } = options.htmlBytes;
    if (decoded > limit) {
      notes.push({
        line: 1,
        code: 'size.html',
        message: `the HTML is ${kb(decoded)}, ${percent(decoded)} of the ${kb(GMAIL_CLIP_BYTES)} at which Gmail clips a message`,
      });
    }
    if (sent > limit) {
      notes.push({
        line: 1,
        code: 'size.html_sent',
        message: `the HTML part as sent (encoded) is ${kb(sent)}, ${percent(sent)} of the ${kb(GMAIL_CLIP_BYTES)} at which Gmail clips a message`,
      });
    }
  }

  const distance = digest.date.getTime() - options.now.getTime();
  if (Math.abs(distance) > DATE_TOLERANCE_MS) {
    const days = Math.abs(distance) / DATE_TOLERANCE_MS;
    notes.push({
      line: digest.dateLine,
      code: 'date.far',
      message: `date ${digest.dateText} is ${days.toFixed(1)} days ${distance < 0 ? 'ago' : 'from now'}`,
    });
  }

  // Stable order: by line, then in the order found.
  return notes
    .map((note, i) => ({ note, i }))
    .sort((a, b) => a.note.line - b.note.line || a.i - b.i)
    .map((x) => x.note);
}

/** Two links are the same story when they differ only in case of the host, a fragment or a final slash. */
function sameLinkKey(href: string): string {
  try {
    const url = new URL(href);
    url.hash = '';
    return url.href.replace(/\/$/, '');
  } catch {
    return href;
  }
}

function short(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

function percent(bytes: number): string {
  return `${Math.round((bytes / GMAIL_CLIP_BYTES) * 100)} %`;
}
