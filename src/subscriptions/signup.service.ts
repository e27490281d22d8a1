import { createHmac } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Kysely } from 'kysely';
import { CallBatcher } from '../core/call.batcher.ts';
import { AppError } from '../core/errors.ts';
import type { Database } from '../db/db.types.ts';
import { checkEmail } from '../core/email-address.ts';
import { cleanName } from '../core/person-name.text.ts';
import {
  type ConfirmOutcome,
  OptinRepository,
  type PublicList,
  type SignupInput,
  type SignupOutcome,
} from './optin.repository.ts';
import { RateLimitRepository } from './rate-limit.repository.ts';
import type { HandedOverMail } from './system-mail.service.ts';
import { readConfirm } from '../core/reader-tokens.ts';
import type { TokenSigner } from '../core/tokens.ts';

export interface SignupRequest {
  email: string;
  name: string | undefined;
  /** Lists ticked on the form; may be omitted when only one list is public. */
  listIds: number[];
  ip: string | null;
  lang: string;
  /** The honeypot field: people never see it, form-filling bots fill it. */
  trap: string | undefined;
}

/**
 * A sender in this process that sends a signup's confirmation mail at once (serve's outbox sender):
 * the mail is written leased to it for `leaseSeconds` and handed to `take`.
 */
export interface ConfirmationHandOff {
  take(mail: HandedOverMail): void;
  leaseSeconds: number;
}

/** The settings signup needs, passed in as values (the config's fields of the same names fit). */
export interface SignupSettings {
  SECRET_KEY: string;
  SIGNUP_LIMIT_PER_IP: number;
  SIGNUP_LIMIT_PER_ADDRESS: number;
}

const IP_WINDOW_SECONDS = 10 * 60;
const ADDRESS_WINDOW_SECONDS = 60 * 60;
/** At most one confirmation mail per address in this window, however often the form is sent. */
export const CONFIRM_MAIL_WINDOW_SECONDS = 10 * 60;
/** The most signups written by one database call. */
const SIGNUP_BATCH = 100;
/**
 * Batches of signups on their way to the database at once. One: a batch costs the database about
 * the same whatever its size (its statements cover the whole batch), so signups arriving meanwhile
 * are cheapest in the next one; two in flight halved the batches and cost more CPU per signup.
 */
const SIGNUP_BATCHES_IN_FLIGHT = 1;
/** The public lists change rarely; reading them once per this many ms spares every signup a query. */
const LISTS_CACHE_MS = 5000;

/**
 * Signup and confirmation (double opt-in). The caller always shows the same "check your inbox" page
 * for an accepted request, whatever state the address was in: what happened is only in the result
 * (for logs and tests) and in the mail the outbox sender delivers later.
 */
export class SignupService {
  private readonly optin: OptinRepository;
  private readonly limits: RateLimitRepository;
  private listsCache: { at: number; lists: Promise<PublicList[]> } | undefined;
  /**
   * Signups go to the database in batches (group commit, see call.batcher.ts): those that arrive
   * while one batch is on its way are written together by the next, each answered once its own
   * outcome is known. A newsletter shared widely brings its signups in bursts.
   */
  private readonly signups: CallBatcher<SignupInput, SignupOutcome>;

  constructor(
    db: Kysely<Database>,
    private readonly signer: TokenSigner,
    private readonly settings: SignupSettings,
    private readonly handOff?: ConfirmationHandOff,
  ) {
    this.optin = new OptinRepository(db);
    this.limits = new RateLimitRepository(db);
    this.signups = new CallBatcher((inputs) => this.optin.signupMany(inputs), {
      maxBatch: SIGNUP_BATCH,
      concurrency: SIGNUP_BATCHES_IN_FLIGHT,
    });
  }

  /** Forgets rate-limit hits whose window has passed (serve runs it every few minutes). */
  pruneRateLimits(): Promise<number> {
    return this.limits.prune();
  }

  publicLists(): Promise<PublicList[]> {
    const now = Date.now();
    if (!this.listsCache || now - this.listsCache.at > LISTS_CACHE_MS) {
      const lists = this.optin.publicLists();
      this.listsCache = { at: now, lists };
      lists.catch(() => {
        this.listsCache = undefined;
      });
    }
    return this.listsCache.lists;
  }

  /**
   * Throws `subscriptions.rate_limited` (429) beyond the per-IP or per-address limit, and a 400 for
   * a bad address or list choice. Returns undefined for a request caught by the honeypot (answered
   * like any other, so the bot learns nothing).
   */
  async signup(request: SignupRequest): Promise<(SignupOutcome & { handedOver: boolean }) | undefined> {
    const ipKey = { key: this.key('ip', clientNetwork(request.ip)), windowSeconds: IP_WINDOW_SECONDS };
    const checked = checkEmail(request.email.slice(0, 1000));
    if (request.trap || !checked.ok) {
      const [ipHits] = await this.limits.hit([ipKey]);
      if (ipHits! > this.settings.SIGNUP_LIMIT_PER_IP) throw rateLimited();
      if (!checked.ok && !request.trap) throw new AppError('subscriptions.email_invalid', checked.reason);
      return undefined;
    }
    const lists = await this.publicLists();
    const listIds = chooseLists(lists, request.listIds);
    const address = this.mac(`address:${checked.email}`);
    const outcome = await this.signups.call({
      email: checked.email,
      name: cleanName(request.name),
      listIds,
      ip: request.ip,
      lang: request.lang,
      confirmKey: `confirm:${address}`,
      confirmWindowSeconds: CONFIRM_MAIL_WINDOW_SECONDS,
      leaseSeconds: this.handOff?.leaseSeconds,
      limits: [
        { ...ipKey, max: this.settings.SIGNUP_LIMIT_PER_IP },
        {
          key: `address:${address}`,
          windowSeconds: ADDRESS_WINDOW_SECONDS,
          max: this.settings.SIGNUP_LIMIT_PER_ADDRESS,
        },
      ],
    });
    if (outcome.limited) throw rateLimited();
    const handedOver = this.handOff !== undefined && outcome.confirmMailId !== undefined;
    if (handedOver) this.handOff!.take(this.confirmationMail(outcome, checked.email, request.lang, lists));
    return { ...outcome, handedOver };
  }

  /**
   * The confirmation mail the signup just wrote leased to this process, with what composing it
   * needs as the signup's statement saw it: an address that statement found mailable (it writes
   * nothing for one that is not), no name (a confirmation carries none), the lists it asks about.
   */
  private confirmationMail(
    outcome: SignupOutcome,
    email: string,
    lang: string,
    lists: PublicList[],
  ): HandedOverMail {
    const subscriberId = outcome.subscriberId!;
    return {
      message: {
        id: outcome.confirmMailId!,
        kind: 'confirm',
        toEmail: email,
        subscriberId,
        payload: { lists: outcome.confirmQueued, lang },
        attempts: 1,
      },
      reader: { id: subscriberId, name: null, unmailable: undefined },
      lists: lists.filter((l) => outcome.confirmQueued.includes(l.id)),
      handedAt: Date.now(),
      leaseSeconds: this.handOff!.leaseSeconds,
    };
  }

  /** The lists a confirmation link is for (to show on the page before the reader presses Confirm). */
  async confirmationLists(token: string): Promise<PublicList[]> {
    const claims = readConfirm(this.signer, token);
    return this.optin.listsById(claims.listIds);
  }

  /** Confirms what the link names; idempotent. */
  async confirm(token: string, lang: string): Promise<ConfirmOutcome & { subscriberId: number }> {
    const claims = readConfirm(this.signer, token);
    const outcome = await this.optin.confirm(
      claims.subscriberId,
      claims.listIds,
      lang,
      claims.confirmationId,
    );
    return { ...outcome, subscriberId: claims.subscriberId };
  }

  /**
   * Counter keys are HMACs: the rate_limits table never holds an address or IP in the clear. An
   * address's two counters (signups, confirmation mails) share one MAC under their two prefixes.
   */
  private key(kind: string, value: string): string {
    return `${kind}:${this.mac(`${kind}:${value}`)}`;
  }

  private mac(text: string): string {
    return createHmac('sha256', this.settings.SECRET_KEY).update(text).digest('base64url').slice(0, 32);
  }
}

/** The lists a signup is for: those ticked, or the only public list when none was. */
function chooseLists(lists: PublicList[], given: number[]): number[] {
  if (lists.length === 0) {
    throw new AppError('subscriptions.no_lists', 'there is no public list to sign up for', { status: 404 });
  }
  const chosen = [...new Set(given)];
  if (chosen.length === 0) {
    if (lists.length === 1) return [lists[0]!.id];
    throw new AppError('subscriptions.no_list_chosen', 'choose at least one list');
  }
  const known = new Set(lists.map((l) => l.id));
  if (!chosen.every((id) => known.has(id))) {
    throw new AppError('subscriptions.list_unknown', 'a list chosen is not offered on this form');
  }
  return chosen.sort((a, b) => a - b);
}

function rateLimited(): AppError {
  return new AppError('subscriptions.rate_limited', 'too many signups; try again later', { status: 429 });
}

/**
 * What the per-IP limit counts: an IPv4 address, or the /64 network of an IPv6 address (one host
 * usually holds a whole /64 and could otherwise rotate through it).
 */
export function clientNetwork(ip: string | null | undefined): string {
  if (!ip) return 'unknown';
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return ip;
  // Anything else that is no IPv6 address (never from Fastify, which gives the socket's or a trusted
  // proxy's address) counts as itself.
  if (!ipaddr.IPv6.isValid(ip)) return ip;
  const address = ipaddr.IPv6.parse(ip);
  // ::ffff:203.0.113.9, what a dual-stack socket reports for an IPv4 client, is that IPv4 address.
  if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
  return `${address.parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(':')}::/64`;
}
