/**
 * A finished message as the message builder (render) makes it and a transport carries it: headers,
 * MIME and DKIM already applied, as raw bytes. It lives in core because render and transports may not
 * import each other.
 */
export interface OutgoingMessage {
  /** Envelope sender (MAIL FROM / Return-Path); the VERP address when VERP is on. */
  envelopeFrom: string;
  /** Envelope recipients. */
  to: string[];
  /** The complete RFC 5322 message. */
  raw: Buffer;
  /**
   * The same bytes in pieces, when the builder has them so (raw is then their concatenation, made
   * only when someone reads it): the SMTP transport writes the pieces as they are, so a sending
   * worker makes no 42 KB copy per reader — most pieces are the issue's own buffers, shared.
   */
  parts?: readonly Buffer[];
  /** Our Message-ID header value, with angle brackets. */
  messageId: string;
  /** Ids for provider-side tagging (SES EmailTags) and logs. */
  tags?: { issueId?: number; deliveryId?: number; kind?: string };
}
