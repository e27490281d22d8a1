/**
 * What an issue is compiled into, once, and stored as JSON in `issues.template`: the finished HTML and
 * plain text, cut at the places that differ per recipient. Sending a message is then only joining
 * strings — no MJML, no Markdown, no template engine per recipient.
 */

/** The per-recipient values, each filled by MessageBuilder at send time. */
export type SlotName = 'greeting' | 'webUrl' | 'preferencesUrl' | 'unsubscribeUrl';

export const SLOT_NAMES: readonly SlotName[] = ['greeting', 'webUrl', 'preferencesUrl', 'unsubscribeUrl'];

/**
 * A text with holes: the result is `parts[0] + value(slots[0]) + parts[1] + … + parts[n]`,
 * so `parts.length === slots.length + 1`.
 */
export interface SlottedText {
  parts: string[];
  slots: SlotName[];
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
