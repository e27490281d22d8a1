/**
 * A digest is one Markdown file with YAML front matter: the editor's unit of work and the source of an
 * issue. The parser keeps every piece of the body (nothing an editor wrote is ever dropped), splits it
 * into the parts templates render differently (intro, items, commentary), and keeps both an HTML form
 * (already escaped and made safe for mail) and a plain-text form of each part.
 */

/** A run of Markdown blocks, rendered once as safe HTML and once as plain text. */
export interface DigestProse {
  /** Escaped, link-checked HTML with inline styles suitable for mail; '' when empty. */
  html: string;
  /** Plain text for the text/plain part; '' when empty. */
  text: string;
}

export interface DigestItem {
  /** The headline as plain text (link text, formatting removed). */
  headline: string;
  /** The headline's inline HTML (emphasis, code kept; escaped; no links inside). */
  headlineHtml: string;
  /** The article URL; absent for an item whose first paragraph is not a link. */
  url?: string;
  /** The URL's host without a leading `www.` (shown beside the headline). */
  sourceDomain?: string;
  /** Everything in the list item after the headline, as safe HTML. */
  summaryHtml: string;
  summaryText: string;
  /** 1-based line in the source file where the item starts, for messages. */
  line: number;
}

/** Something the editor should look at, with the line of the file it is about. */
export interface DigestNote {
  /** 1-based line in the digest file. */
  line: number;
  /** Stable code, e.g. `items.second_list`, `link.dropped`. */
  code: string;
  message: string;
}

/** A link the body keeps (its URL passed the safety check), where it is written. */
export interface DigestLink {
  href: string;
  line: number;
}

/** An image the body keeps; `alt` is '' when the editor wrote none. */
export interface DigestImage {
  src: string;
  alt: string;
  line: number;
}

export interface Digest {
  /** The file name given to the parser, used in every message about this digest. */
  fileName: string;
  title: string;
  /** The instant the digest is dated. */
  date: Date;
  /** The date exactly as written in the front matter, e.g. `2025-11-10T09:10:03.447+08:00`. */
  dateText: string;
  /** The digest's own UTC offset, `+08:00`; the server's zone never changes which day a digest is. */
  offset: string;
  offsetMinutes: number;
  /** The calendar day in the digest's own offset, `2025-11-10`. */
  day: string;
  categories: string[];
  /** The subject line: front matter `subject`, or the title. */
  subject: string;
  /** The inbox preview text: front matter `preheader`, or the start of the intro. */
  preheader: string;
  /** BCP 47 tag: front matter `lang`, or detected from the text (`zh-CN`, `en`, `ja`, …). */
  lang: string;
  /** Whether `lang` came from the front matter or was detected. */
  langSource: 'front-matter' | 'detected';
  /** Text direction of the language. */
  dir: 'ltr' | 'rtl';
  /** List slugs named in the front matter (`lists`), if any. */
  lists?: string[];
  /** When the editor wants it sent (front matter `send_at`). */
  sendAt?: Date;
  draft: boolean;
  /** Everything before the list of items (minus the separating rule). */
  intro: DigestProse;
  items: DigestItem[];
  /** Everything after the list of items (minus the separating rule): commentary and any other prose. */
  commentary: DigestProse;
  /** Links and images that were dropped for safety, and similar notes, each naming file and line. */
  warnings: string[];
  /** The same notes with their line and a stable code, in the order of the file. */
  notes: DigestNote[];
  /** Every link and image the body keeps, in the order written, for the linter. */
  links: DigestLink[];
  images: DigestImage[];
  /** The line of `date` in the front matter. */
  dateLine: number;
  /** The file's full text, and its sha256 (hex), so an issue records exactly what it was made from. */
  source: string;
  hash: string;
}
