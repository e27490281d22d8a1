/**
 * What an issue is compiled into, once, and stored as JSON in `issues.template`: the finished HTML and
 * plain text, cut at the places that differ per recipient. Sending a message is then only joining
 * strings — no MJML, no Markdown, no template engine per recipient.
 */

/** The per-recipient values, each filled by MessageBuilder at send time. */
export type SlotName = 'greeting' | 'webUrl' | 'preferencesUrl' | 'unsubscribeUrl' | 'clickBase';

export const SLOT_NAMES: readonly SlotName[] = [
  'greeting',
  'webUrl',
  'preferencesUrl',
  'unsubscribeUrl',
  'clickBase',
];

/** One link of an issue, by position: the only places a click redirect may lead. */
export interface IssueLink {
  position: number;
  url: string;
  /** The headline for an item's link, else the link's text. */
  title: string;
  domain: string;
}

/**
 * A text with holes: the result is `parts[0] + value(slots[0]) + parts[1] + … + parts[n]`,
 * so `parts.length === slots.length + 1`.
 */
export interface SlottedText<S extends string = SlotName> {
  parts: string[];
  slots: S[];
}

export interface IssueTemplate {
  version: 1;
  subject: string;
  preheader: string;
  /** BCP 47 language of the digest, as on `<html lang>`. */
  lang: string;
  dir: 'ltr' | 'rtl';
  title: string;
  /** The digest's own calendar day, `2025-11-10`. */
  day: string;
  /** sha256 of the digest source this was compiled from. */
  digestHash: string;
  list: { slug: string; name: string };
  html: SlottedText;
  /**
   * The HTML for a reader whose clicks are counted: each link of the digest goes through
   * `clickBase/<position>` (the redirect), and the footer says clicks are counted. Absent in issues
   * compiled before click counts existed.
   */
  tracked?: SlottedText;
  /** The digest's links by position (see `tracked`). */
  links?: IssueLink[];
  text: SlottedText;
  /**
   * The text is wrapped as format=flowed; delsp=yes (RFC 3676). Absent in issues compiled before it
   * was, whose text goes out as it was compiled.
   */
  textFlowed?: boolean;
  /** How the greeting reads: `before + name + after`, or `anonymous` when the name is unknown. */
  greeting: { before: string; after: string; anonymous: string };
  /** Bytes of the HTML with typical slot values, for the Gmail clipping limit (102 KB). */
  htmlBytes: number;
  compiledAt: string;
}
