/**
 * Why a message to one recipient failed, as one word of a fixed taxonomy: the one sisimai (the
 * field's reference bounce classifier) documents at https://libsisimai.org/en/reason/. Its
 * definitions are facts we take; the rules below are ours, learned from the wording of the real bounce
 * messages in tests/fixtures/bounces/corpus.
 *
 * This is a pure function of an SMTP status, reply code and diagnostic text, with no I/O, and it
 * lives in core because two modules that may not import each other need it: `delivery` classifies
 * the 5xx a server answers at RCPT TO while sending, and `bounces` classifies the same words when
 * they come back later in bounce mail or an SES event. One function, so a reply means the same
 * thing whichever way it reached us.
 */

export const BOUNCE_REASONS = [
  // About the address: these, and only these, suppress it.
  'userunknown',
  'hostunknown',
  'hasmoved',
  'notaccept',
  // About the mailbox's state at the moment.
  'mailboxfull',
  'suspend',
  'exceedlimit',
  'mesgtoobig',
  'vacation',
  // About our mail, our IP or our domain.
  'filtered',
  'blocked',
  'badreputation',
  'requireptr',
  'spamdetected',
  'virusdetected',
  'contenterror',
  'policyviolation',
  'authfailure',
  'securityerror',
  'failedstarttls',
  'notcompliantrfc',
  'syntaxerror',
  'rejected',
  'norelaying',
  'toomanyconn',
  'speeding',
  // About the path between us.
  'expired',
  'networkerror',
  'systemerror',
  'systemfull',
  'mailererror',
  'onhold',
  // Not a failure of delivery.
  'feedback',
  'undefined',
] as const;

export type BounceReason = (typeof BOUNCE_REASONS)[number];

/**
 * The reasons that prove something about the address itself (it does not exist, its domain does
 * not exist, it moved, its domain accepts no mail). Everything else says something about our mail,
 * our IP or the moment, and suppressing on it would shrink the list after one bad day.
 */
const ADDRESS_REASONS: ReadonlySet<BounceReason> = new Set([
  'userunknown',
  'hostunknown',
  'hasmoved',
  'notaccept',
]);

export function reasonSuppresses(reason: BounceReason): boolean {
  return ADDRESS_REASONS.has(reason);
}

export function isBounceReason(value: string): value is BounceReason {
  return (BOUNCE_REASONS as readonly string[]).includes(value);
}

export interface FailureInput {
  /** Enhanced status code (RFC 3463) as reported, e.g. `5.1.1`; may be empty. */
  status?: string | undefined;
  /** SMTP reply code, e.g. 550; may be absent. */
  reply?: number | undefined;
  /** The remote server's words (diagnostic code, reply text, bounce text). */
  text: string;
  /** The SMTP command the reply answered, when known (`RCPT TO`, `DATA`, `MAIL FROM`, `CONN`…). */
  command?: string | undefined;
  /**
   * The server that gave the reply (a Remote-MTA, "host X said") and the recipient's domain, when
   * known: a few large receivers use wordings that mean something else than they say (see
   * CARRIER_FILTERS).
   */
  remoteMta?: string | undefined;
  /**
   * The report is of a delay (RFC 3464 `Action: delayed`, a warning): the message is still queued.
   * Its words may say why; a bare status code says only that it is waiting (`expired`).
   */
  delayed?: boolean | undefined;
}

export interface ClassifiedFailure {
  reason: BounceReason;
  /** The enhanced status given, or one found in the text, else derived from the reply code ('' when none). */
  status: string;
  /** True when the reason is about the address (see reasonSuppresses). */
  suppresses: boolean;
}

const STATUS_IN_TEXT = /(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)/;
const REPLY_IN_TEXT = /(?<![\d.-])([245]\d\d)(?:[ -]|$)(?![\d.]*%)/;

/**
 * Wording rules, most specific first: the first that matches the diagnostic text decides. Each line
 * is what servers of many kinds say for that reason (Postfix, Sendmail, Exim, qmail, Exchange and
 * Office 365, Gmail, Yahoo, Outlook.com, Mail.ru, GMX, AOL, Apple, France Télécom, Mimecast,
 * Proofpoint, Barracuda…), as seen in the corpus.
 */
/** The recipient chose not to take our mail: a filter of theirs, which beats even a 5.1.1. */
const RECIPIENT_CHOICE =
  /recipient preferences|refused due to recipient|rejected by recipient'?s? (?:filter|settings)/i;

const TEXT_RULES: [BounceReason, RegExp][] = [
  // Yahoo's "[TSS04] … temporarily deferred due to unexpected volume or user complaints": our
  // sending reputation, whatever words surround it.
  ['badreputation', /unexpected volume or user complaints/i],
  // Our envelope sender refused: about us, never about the recipient.
  [
    'rejected',
    /sender address rejected|sender (?:address |domain )?(?:is )?(?:invalid|unknown|not (?:allowed|valid))|domain of sender address .* does not exist|\b5\.1\.[78]\b|\bsender rejected|sender was rejected|sending to\/from an address that has been blacklisted|'send mail as'|from: domain is invalid|envelope sender|mail from (?:address|domain) (?:is )?(?:invalid|rejected|unknown)/i,
  ],
  // Wordings whose general words ("access denied", "blocked") would mislead the rules below.
  [
    'userunknown',
    /recipient address rejected: access denied|\baddress not found\b|invalid final delivery userid|not listed in (?:the )?(?:domino directory|public name & address book)/i,
  ],
  // The local delivery program (procmail, a pipe) failed: X-Unix diagnostic codes.
  [
    'mailererror',
    /procmail|pipe to \||child process of .* transport returned|\bmailer error|pipe to .* (?:failed|exited)|local delivery (?:program|agent) failed/i,
  ],
  ['onhold', /\bon hold\b/i],
  // Wordings whose general words ("blocked", "spam", "authentication") would mislead the rules below.
  [
    'notcompliantrfc',
    /not rfc ?5322 compliant|multiple addresses in from:|duplicate header|multiple (?:subject|from|date|to) (?:\d+[-. \d]* )?headers/i,
  ],
  ['spamdetected', /blacklisted url|\buribl\b|\bsurbl\b|rejected due to spam classification/i],
  ['suspend', /recipient account is blocked|compte du destinataire est bloque/i],
  [
    'blocked',
    /client host blocked|ip source bloquee|invalid ip for sending|my name was rejected|not accepting connections|service refused|messages from [\d.]+ weren't sent/i,
  ],
  ['policyviolation', /\bheader error\b|host network not allowed/i],
  // Sendmail's access database refusing our envelope sender: "<bounce@…>... Access denied".
  ['securityerror', /<[^<>\s]+@[^<>\s]+>\.\.\. access denied/i],
  ['spamdetected', /message content rejected/i],
  [
    'failedstarttls',
    /does not support (?:tls|starttls)|starttls (?:failed|negotiation failed)|tls negotiation failed/i,
  ],
  ['networkerror', /host name lookup failure|network error on destination/i],
  ['systemerror', /unable to contact ldap/i],
  ['syntaxerror', /command parameter not implemented/i],
  ['requireptr', /unverifi?(?:y|i)able sending ips?/i],
  ['systemfull', /insufficient (?:disk space|system storage)/i],
  ['toomanyconn', /connection rate limit|frequency limited|^(?:\d{3}[ -])?too many recipients\.?$/i],
  [
    'securityerror',
    /unauthenticated senders? not allowed|turn on smtp authentication|smtp auth(?:entication)? (?:is )?required/i,
  ],
  ['norelaying', /email address is not verified/i],
  ['requireptr', /reverse dns|invalid rdns|mismatches client ip|\bptr record/i],
  ['securityerror', /delivery not authori[sz]ed/i],
  ['authfailure', /does not have authentication information|fails to pass authentication/i],
  ['notaccept', /system not accepting network messages/i],
  ['filtered', RECIPIENT_CHOICE],
  [
    'contenterror',
    /\bmedia error|media not supported|conversion (?:required|failed) (?:and )?(?:prohibited|not possible)/i,
  ],
  [
    'policyviolation',
    /content presents a potential|for policy reasons|message .* (?:violates|against) .*policy/i,
  ],
  [
    'virusdetected',
    /virus|malware|infected|worm found|bad attachment|banned attachment|contains an? (?:executable|unacceptable attachment)/i,
  ],
  [
    'authfailure',
    /\bdmarc\b|\bspf\b|sender policy framework|dkim|authentication (?:check |)fail|unauthenticated (?:email|mail|sender)|not authenticated|sender address has no authentication|\b5\.7\.2[367]\b|does not pass .*authentication|isn't authenticated|failed (?:the )?(?:dmarc|spf)/i,
  ],
  [
    'requireptr',
    /reverse (?:dns|lookup|host|name)|\bptr\b|no ptr|rdns|client host .* (?:failed|has no) .*(?:hostname|dns)|cannot find your hostname|unable to verify (?:your|the) (?:host|hostname)|ip name lookup failed|(?:hostname|host name) (?:doesn't|does not) match|not resolve your (?:ip|address)|(?:ip|address) has no (?:dns|hostname)|cannot resolve your|dns(?:bl)? lookup of (?:your )?(?:ip|host) failed|\bno (?:valid )?hostname\b|hostname .* does not resolve|please (?:set|fix) .*(?:ptr|reverse)|helo .* (?:does not|doesn't) (?:resolve|match)|lookup failure|invalid hostname|unresolvable/i,
  ],
  [
    'badreputation',
    /(?:poor|bad|low) (?:ip |sender |domain )?reputation|reputation (?:of|is|check)|sender reputation|ip reputation|temporarily rate limited .* reputation|\b421[ -]4\.7\.0\b.*unsolicited|\b4\.7\.650\b/i,
  ],
  [
    'spamdetected',
    /\bspam\b|junk mail|unsolicited|bulk mail|looks like spam|detected as spam|message is spam|considered spam|classified as spam|content .*(?:suspicious|spam)|spam(?:my|assassin|filter|score)|rejected due to content|\bUBE\b|high probability of being spam|5\.7\.1 .*(?:content|message) rejected/i,
  ],
  [
    'norelaying',
    /relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited)|not permitted to relay|unable to relay|relay not permitted|we do not relay|cannot relay|no relaying|not a gateway|5\.7\.1 .*relay|relaying denied|open relay|not local host/i,
  ],
  [
    'blocked',
    /blacklist|block ?list|spamhaus|spamcop|barracudacentral|sorbs|\bblocked\b|\bblocking\b|rbl|dnsbl|\bsbl\b|\bxbl\b|\bpbl\b|listed (?:at|in|on|by)|banned|access denied|client host (?:\[[^\]]*\] )?rejected|connection (?:refused|rejected)|ip (?:address )?(?:is )?(?:not allowed|rejected|denied)|your (?:ip|host|network|server)(?: address)? (?:is |has been )?(?:not allowed|rejected|denied|on a)|rejected (?:because|by) .*\b(?:ip|host)\b|please use the smtp server of your isp|dial-?up|dynamic (?:ip|address)|residential|not accept(?:ed)? mail from|refused to talk|go away|greylist|service (?:not available|unavailable).*(?:client|host|ip)|mail from .* (?:refused|rejected)|too many (?:bad|invalid) (?:recipients|commands)|abuse|poor reputation/i,
  ],
  [
    'exceedlimit',
    /exceeds? (?:the )?(?:size|message size) limit for (?:this )?(?:mailbox|recipient)|message (?:would )?exceed(?:s|ed)? (?:the )?(?:mailbox|recipient|user)(?:'s)? (?:size )?limit|exceeded storage allocation|\b5\.2\.3\b/i,
  ],
  [
    'mesgtoobig',
    /message (?:is )?(?:too big|too large|size exceeds|exceeds (?:the )?(?:fixed )?(?:maximum )?(?:message )?size)|size (?:limit )?exceeded|message (?:length|size) exceeds|exceeds (?:the )?(?:maximum|max) (?:allowed )?(?:message )?size|message too long|line limit exceeded|mail size limit|\b5\.3\.4\b|too big for (?:system|the system)|message file too big|larger than (?:the )?(?:max|limit)/i,
  ],
  [
    'mailboxfull',
    /mailbox exceeds allowed size|mailbox (?:is )?full|mail ?box (?:is )?full|quota|over ?quota|insufficient storage|mailbox (?:size limit|has exceeded|exceeded|is over|would exceed)|not enough (?:storage|space)|disk (?:full|space)|user(?:'s)? (?:disk|mailbox) (?:is )?full|exceeded (?:the )?(?:storage|mailbox)|(?:storage|mailbox) (?:limit|capacity) (?:exceeded|reached)|full mailbox|is full|too many messages in (?:the|this) mailbox|mailfolder is full|\b[45]\.2\.2\b/i,
  ],
  [
    'hasmoved',
    /\bhas (?:been )?moved\b|user has moved|address (?:has )?changed|\bmoved to\b|no longer (?:valid|available) .*(?:new|forward)|\b5\.1\.6\b/i,
  ],
  [
    'suspend',
    /temporar(?:y|ily) locked|account (?:has been )?(?:disabled|suspended)|disabled recipient|(?:account|mailbox|user|address|recipient)(?: has been| is)? (?:temporarily )?(?:disabled|suspended|inactive|deactivated|frozen|locked|blocked by the (?:user|owner)|not active|expired|on hold)|(?:disabled|suspended|inactive|deactivated|locked) (?:account|mailbox|user|recipient)|account (?:that you tried to reach )?is (?:disabled|inactive|suspended)|mailbox (?:unavailable|temporarily unavailable) .*(?:disabled|inactive)|this account has been disabled|not (?:currently )?(?:active|activated)|\b5\.2\.1\b.*(?:disabled|inactive|suspended)|(?:inactive|unused) (?:for|since)/i,
  ],
  [
    'notaccept',
    /no mx (?:record )?found|couldn't find a mail exchanger|indicated no smtp service|\bnull mx\b/i,
  ],
  [
    'networkerror',
    /network error on destination|malformed or unexpected name server reply|host name lookup failure/i,
  ],
  [
    'hostunknown',
    /domain is not reachable|\b\d{3} [a-z0-9.-]+\.[a-z]{2,} does not exist\b|host (?:or domain name )?not found|unknown host|host unknown|domain (?:name )?(?:not found|does not exist|doesn't exist|unknown)|unknown domain|no such (?:domain|host)|name or service not known|nxdomain|mx (?:record )?(?:lookup|not found)|no mx|(?:unrouteable|unroutable) (?:mail )?domain|domain (?:is )?(?:not valid|invalid)|invalid domain|no (?:valid )?(?:a|mx) records?|cannot resolve (?:the )?(?:hostname|domain)|all relevant mx records point to non-existent hosts|host name lookup failure|unrouteable address|recipient domain .* not exist|domain .* has no|\b5\.1\.2\b|\b5\.4\.4\b/i,
  ],
  [
    'userunknown',
    /user unknown|unknown user|unknown (?:recipient|local part|address|mailbox)|no such (?:user|mailbox|recipient|address|account|local user|person)|(?:user|mailbox|recipient|address|account)(?: name)? (?:does not|doesn't|did not) exist|(?:user|mailbox|recipient|account) (?:not found|unknown|invalid|unavailable|not known|is unknown)|not (?:a )?(?:valid|known) (?:recipient|user|mailbox)|invalid (?:recipient|mailbox|user|address)|recipient (?:address )?rejected|address rejected|mailbox unavailable|(?:user|recipient|mailbox) (?:is )?not (?:here|listed|registered|found|local)|unrouteable|bad destination (?:mailbox )?address|no mailbox|addressee unknown|(?:destination|recipient) (?:address )?(?:is )?(?:invalid|unknown)|address (?:is )?(?:invalid|unknown)|this user doesn't have a|the email account that you tried to reach does not exist|no longer (?:valid|available|in use|exists?)|not our customer|no valid recipients|does not have an? (?:account|mailbox)|unknown or illegal alias|mailbox not (?:found|available)|sorry, no mailbox here|couldn't find any host|user not found|recipient not found|undeliverable address|rejected: (?:user|recipient)|\b5\.1\.1\b|\b5\.1\.0\b|\b5\.1\.10\b/i,
  ],
  [
    'toomanyconn',
    /too many (?:connections|concurrent|simultaneous|sessions)|connection limit|(?:maximum|max) (?:number of )?connections|too many smtp sessions|closing connection.*too many/i,
  ],
  [
    'speeding',
    /rate limit|too many (?:messages|emails|mails|recipients)|(?:sending|message) rate|throttl|slow down|try again later.*(?:rate|volume)|exceeded .*(?:rate|hourly|daily) (?:limit|quota)|receiving (?:mail|messages) at a rate|\b4\.7\.28\b/i,
  ],
  [
    'policyviolation',
    /polic(?:y|ies)|not allowed by (?:the )?(?:recipient|domain|organization)|prohibited|violat|not authorized to send|restricted|content (?:not allowed|rejected|filter)|(?:message|mail) content .* (?:rejected|denied)|your message .* (?:rejected|blocked) .*(?:rule|policy)|transport rule|administrative prohibition|\b5\.7\.1 .*(?:delivery not authorized|not authorized)/i,
  ],
  [
    'contenterror',
    /(?:header|headers) (?:are |is )?(?:invalid|malformed|too long)|invalid (?:header|mime|character|message)|malformed|message (?:is )?corrupt|8[- ]?bit|bare lf|line too long|invalid (?:date|message-id)|mime (?:error|violation)|not (?:rfc|compliant)|rfc ?(?:2822|5322|822) (?:compliant|violation)|improper(?:ly)? formatted/i,
  ],
  [
    'filtered',
    /filter(?:ed)?|rejected by (?:the )?(?:recipient|user|domain)|recipient (?:has )?(?:rejected|refused|blocked)|(?:not|no longer) accepting (?:mail|messages) from|(?:user|recipient) (?:refuses|refused|does not accept|doesn't accept)|sender (?:is )?(?:not allowed|blocked|rejected|denied)|refused by recipient|blocked by (?:the )?recipient|has been denied|receiver denied|not on (?:the )?(?:whitelist|allow list)/i,
  ],
  [
    'notaccept',
    /does not accept (?:any )?(?:e-?mail|mail)|accepts no mail|null mx|no mail accepted|domain does not receive (?:e-?)?mail|not accept(?:ing)? mail|\b5\.1\.10\b.*null/i,
  ],
  [
    'expired',
    // qmail gives up after its queue lifetime ("I'm not going to try again; this message has been in
    // the queue too long"); other servers count the days.
    /in the queue too long|undeliverable for \d+ (?:days?|hours?)|still undelivered after|expired|timed? ?out|did not accept our requests to connect|delivery failed \d+ attempts|could not find a gateway|have been failing for a long time|retry timeout exceeded|time-?out|retry (?:time|timeout) (?:not reached|exceeded)|could not be delivered (?:for|within|after) \d+|gave up|giving up|delivery (?:time|attempts?) (?:expired|exceeded)|been delayed|delayed|queue (?:time|lifetime)|too long in (?:the )?queue|message (?:could not be delivered|was not delivered) in time|no answer|will be retried|still trying|\b4\.4\.7\b|\b5\.4\.7\b/i,
  ],
  [
    'networkerror',
    /network (?:error|unreachable)|connection (?:timed out|lost|reset|dropped|closed|died)|no route to host|host (?:is )?unreachable|lost connection|mail (?:for|to) .* loops back|mail loop|loop(?:ing)? detected|too many hops|hop count exceeded|routing loop|cannot connect|could not connect|unable to connect|dns (?:error|failure|timeout)|temporary lookup failure|\b[45]\.4\.[0-6]\b/i,
  ],
  [
    'systemfull',
    /(?:system|disk|server) (?:is )?full|insufficient (?:system resources|disk space|system storage)|out of (?:disk )?space|\b[45]\.3\.1\b/i,
  ],
  // A local delivery program's exit code (X-Unix; 75), when no words said more.
  ['mailererror', /^x-unix;/i],
  [
    'systemerror',
    /service currently unavailable|could not load drd|unable to contact ldap|^\d{3} transaction failed$|system (?:error|config)|internal system error|internal (?:server )?error|server (?:error|configuration)|configuration error|temporar(?:y|ily) (?:failure|unavailable|error|local problem)|local (?:error|problem)|service (?:unavailable|not available)|try again later|unable to deliver|mailer error|database error|i\/o error|resources temporarily|\b[45]\.3\.[0-5]\b/i,
  ],
  [
    'securityerror',
    /delivery not authori[sz]ed|tls (?:required|is required)|must (?:issue a )?starttls|encryption required|certificate|secure connection required|authentication required|must authenticate/i,
  ],
  [
    'syntaxerror',
    /syntax error|command unrecognized|unrecognized command|bad sequence|command not (?:implemented|recognized)/i,
  ],
];

/**
 * Status codes (RFC 3463) whose meaning alone decides the reason when the words matched no rule.
 * Keys are `class.subject.detail` without the class where both classes mean the same.
 */
const STATUS_REASONS: Record<string, BounceReason> = {
  '1.1': 'userunknown',
  '1.0': 'userunknown',
  '1.2': 'hostunknown',
  '1.3': 'userunknown',
  '1.4': 'userunknown',
  '1.5': 'userunknown',
  '1.6': 'hasmoved',
  '1.7': 'rejected',
  '1.8': 'rejected',
  '1.10': 'notaccept',
  '2.0': 'mailboxfull',
  '2.1': 'suspend',
  '2.2': 'mailboxfull',
  '2.3': 'exceedlimit',
  '2.4': 'mailererror',
  '3.0': 'systemerror',
  '3.1': 'systemfull',
  '3.2': 'systemerror',
  '3.3': 'systemerror',
  '3.4': 'mesgtoobig',
  '3.5': 'systemerror',
  '4.0': 'networkerror',
  '4.1': 'networkerror',
  '4.2': 'networkerror',
  '4.3': 'systemerror',
  '4.4': 'hostunknown',
  '4.5': 'networkerror',
  '4.6': 'networkerror',
  '4.7': 'expired',
  '5.0': 'syntaxerror',
  '5.1': 'syntaxerror',
  '5.2': 'syntaxerror',
  '5.3': 'syntaxerror',
  '5.4': 'syntaxerror',
  '5.5': 'syntaxerror',
  '6.0': 'contenterror',
  '6.1': 'contenterror',
  '6.2': 'contenterror',
  '6.3': 'contenterror',
  '6.4': 'contenterror',
  '6.5': 'contenterror',
  '7.0': 'blocked',
  '7.1': 'rejected',
  '7.2': 'rejected',
  '7.3': 'securityerror',
  '7.4': 'securityerror',
  '7.5': 'securityerror',
  '7.6': 'securityerror',
  '7.7': 'securityerror',
  '7.8': 'securityerror',
  '7.9': 'securityerror',
  '7.10': 'securityerror',
  '7.11': 'failedstarttls',
  '7.13': 'suspend',
  '7.14': 'suspend',
  '7.15': 'securityerror',
  '7.17': 'suspend',
  '7.18': 'suspend',
  '7.23': 'authfailure',
  '7.24': 'authfailure',
  '7.25': 'requireptr',
  '7.26': 'authfailure',
  '7.27': 'notaccept',
  '7.28': 'speeding',
};

/** The first enhanced status code in `text` (`5.1.1`), or ''. */
export function statusIn(text: string): string {
  const m = STATUS_IN_TEXT.exec(text);
  return m ? `${m[1]}.${m[2]}.${m[3]}` : '';
}

/** The first SMTP reply code in `text` (550), or undefined. */
export function replyIn(text: string): number | undefined {
  const m = REPLY_IN_TEXT.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Classifies one failure for one recipient; `text` alone is enough when nothing else is known. */
export function classifyFailure(input: FailureInput): ClassifiedFailure {
  const flat = input.text.replace(/\s+/g, ' ');
  let status = normaliseStatus(input.status) || statusIn(flat);
  const text = withoutRepeatedCodes(flat);
  const reply = input.reply ?? replyIn(text);
  if (!status && reply !== undefined) status = `${Math.floor(reply / 100)}.0.0`;
  let reason = reasonOf(status, text, input.command);
  const rcpt = input.command !== undefined && /^RCPT/i.test(input.command);
  // RFC 3463 X.7.x is a refusal by policy: words of an unknown user under it are the policy's
  // cover, not proof the address is gone (Office 365's "Access denied" is its unknown user, though).
  if (reason === 'userunknown' && /^\d\.7\./.test(status) && !/access denied/i.test(text))
    reason = 'filtered';
  if (reason === 'userunknown' && !/^\d\.1\./.test(status)) {
    const carrier = CARRIER_FILTERS.find(([host]) => host.test(`${input.remoteMta ?? ''} ${text}`));
    // A recipient refused only after the message was sent (in reply to DATA) was accepted at RCPT
    // TO: the refusal is the recipient's filter judging the message, not an unknown address.
    // An explicit x.1.x status still says the address is unknown.
    // With an X.2.x status the carrier itself says the mailbox exists and refused: its filter.
    if (carrier && !rcpt && carrier[1].test(text)) reason = /^\d\.2\./.test(status) ? 'filtered' : carrier[2];
    else if (input.command && /^DATA$/i.test(input.command)) reason = 'filtered';
  }
  // A refusal in reply to MAIL FROM is about our envelope sender, whatever its words: the recipient
  // was never named.
  if (input.command && /^MAIL/i.test(input.command) && reasonSuppresses(reason)) reason = 'rejected';
  // A name server that could not answer now ("try again", a 4xx) proves nothing about the domain.
  if (
    reason === 'hostunknown' &&
    (status.startsWith('4') || (!status.startsWith('5') && /try again/i.test(text)))
  )
    reason = 'networkerror';
  if (input.delayed) {
    if (reason === 'undefined' || reasonSuppresses(reason) || !TEXT_RULES.some(([, rule]) => rule.test(text)))
      reason = 'expired';
    return { reason, status, suppresses: false };
  }
  return { reason, status, suppresses: reasonSuppresses(reason) };
}

/**
 * Multi-line replies repeat their codes on every line ("550-5.7.1 Messages with multiple 550-5.7.1
 * addresses in From: header"): the words are read without the repeats.
 */
function withoutRepeatedCodes(text: string): string {
  const first = /\b([245]\d\d)[ -]([245]\.\d{1,3}\.\d{1,3})\s/.exec(text);
  if (!first) return text;
  const end = first.index + first[0].length;
  const repeat = new RegExp(`\\b${first[1]}[ -]${first[2]!.replace(/\./g, '\\.')}\\s`, 'g');
  return text.slice(0, end) + text.slice(end).replace(repeat, '');
}

/**
 * Japanese mobile carriers refuse mail that the recipient's own sender filter (the "receive only
 * from" setting of docomo, au and SoftBank phones) rejects with the words of an unknown user. au
 * (ezweb.ne.jp, au.com) says "550 : User unknown", with no address, after DATA for a filtered
 * message, and "550 <address>: User unknown" at RCPT TO for an address that does not exist; docomo
 * says "550 Unknown user <address>" for a refused sender. Neither proves the address is gone.
 */
const CARRIER_FILTERS: [RegExp, RegExp, BounceReason][] = [
  [/ezweb\.ne\.jp|\bau\.com\b|\(au mail\)/i, /\b550:?\s*:\s*user unknown/i, 'filtered'],
  [/docomo\.ne\.jp/i, /\bunknown user\b/i, 'rejected'],
];

function reasonOf(status: string, text: string, command: string | undefined): BounceReason {
  const detail = status.slice(2);
  // Postfix's "Recipient address rejected:" is followed by the real reason ("User unknown", "Mailbox
  // full", "Policy violation"…): the words after it decide, and alone it means the address was refused.
  const words = text.replace(/\b(?:recipient )?address rejected:(?!\s*access denied)\s*/gi, '');
  const refused = words !== text;
  // Codes that say one thing whatever the words: a mailbox that does not exist, a domain without
  // mail, a moved address, a bad destination system.
  if (detail === '1.1' || detail === '1.10' || detail === '1.6' || detail === '1.2') {
    if (RECIPIENT_CHOICE.test(words)) return 'filtered';
    // Microsoft answers an unknown recipient with 5.1.10 ("RESOLVER.ADR.RecipientNotFound"), which
    // RFC 7505 gives to a null MX.
    if (detail === '1.10' && /recipientnotfound|recipient not found/i.test(words)) return 'userunknown';
    for (const [reason, rule] of TEXT_RULES) {
      if (rule.test(words) && OVERRIDES_ADDRESS_STATUS.has(reason)) return reason;
    }
    return STATUS_REASONS[detail]!;
  }
  for (const [reason, rule] of TEXT_RULES) {
    if (!rule.test(words)) continue;
    return reason;
  }
  if (refused) return 'userunknown';
  // A 5xx at MAIL FROM, the greeting or EHLO refuses us, not the recipient.
  if (command && !/RCPT|DATA/i.test(command) && status.startsWith('5')) return 'rejected';
  const byStatus = STATUS_REASONS[detail];
  if (byStatus && detail !== '0.0') return byStatus;
  if (status.startsWith('4')) return 'expired';
  if (status.startsWith('5')) return 'undefined';
  return 'undefined';
}

/**
 * Words that beat even a 5.1.1: servers that answer "550 5.1.1" to mail they refuse because of the
 * sender's IP or authentication (a block list, DMARC) are common, and suppressing the reader for it
 * would be wrong.
 */
const OVERRIDES_ADDRESS_STATUS: ReadonlySet<BounceReason> = new Set([
  'rejected',
  'speeding',
  'mailererror',
  'onhold',
  'blocked',
  'spamdetected',
  'authfailure',
  'requireptr',
  'badreputation',
  'suspend',
  'mailboxfull',
  'hasmoved',
  'notaccept',
]);

function normaliseStatus(status: string | undefined): string {
  if (!status) return '';
  const m = /([245])\.(\d{1,3})\.(\d{1,3})/.exec(status);
  return m ? `${m[1]}.${m[2]}.${m[3]}` : '';
}
