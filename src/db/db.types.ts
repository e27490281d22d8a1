import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Table types for Kysely, matching migrations/. bigint ids are parsed to JavaScript numbers by the
 * connection (see db.factory.ts): 2^53 rows is far beyond what one newsletter database will hold.
 */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T = Record<string, unknown>> = ColumnType<T, T | string | undefined, T | string>;
type TextArray = ColumnType<string[], string[] | undefined, string[]>;

export type OptInMode = 'single' | 'double';
export type SubscriberStatus = 'active' | 'blocklisted';
export type SubscriptionStatus = 'pending' | 'confirmed' | 'unsubscribed';
export type IssueStatus = 'draft' | 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled';
export type DeliveryStatus =
  | 'queued'
  | 'sending'
  | 'sent'
  | 'delivered'
  | 'failed'
  | 'bounced'
  | 'complained'
  | 'suppressed'
  | 'unsubscribed';
export type EventType = 'hard_bounce' | 'soft_bounce' | 'complaint' | 'delivery';
export type EventSource = 'ses' | 'smtp' | 'dsn' | 'manual';
export type SuppressionReason =
  | 'hard_bounce'
  | 'soft_bounce_limit'
  | 'complaint'
  | 'erased'
  | 'manual'
  | 'unsubscribed';
export type OutboxKind = 'confirm' | 'welcome' | 'goodbye' | 'test' | 'sign_in';
export type OutboxStatus = 'pending' | 'sending' | 'sent' | 'failed';

export interface ListsTable {
  id: Generated<number>;
  slug: string;
  name: string;
  description: Generated<string>;
  opt_in: ColumnType<OptInMode, OptInMode | undefined, OptInMode>;
  language: Generated<string>;
  topics: TextArray;
  is_public: Generated<boolean>;
  track_clicks: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface SubscribersTable {
  id: Generated<number>;
  email: string;
  name: string | null;
  status: ColumnType<SubscriberStatus, SubscriberStatus | undefined, SubscriberStatus>;
  attributes: Json;
  track_clicks: Generated<boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface SubscriptionsTable {
  subscriber_id: number;
  list_id: number;
  status: SubscriptionStatus;
  topics: TextArray;
  source: Generated<string>;
  ip: string | null;
  created_at: Timestamp;
  confirmed_at: NullableTimestamp;
  unsubscribed_at: NullableTimestamp;
  updated_at: Timestamp;
}

export interface IssuesTable {
  id: Generated<number>;
  list_id: number;
  status: ColumnType<IssueStatus, IssueStatus | undefined, IssueStatus>;
  subject: string;
  title: string;
  lang: Generated<string>;
  categories: TextArray;
  digest_path: string | null;
  digest_source: string;
  digest_hash: string;
  digest_date: NullableTimestamp;
  auto_key: string | null;
  template: ColumnType<unknown, unknown, unknown>;
  send_at: NullableTimestamp;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  pause_reason: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface DeliveriesTable {
  id: Generated<number>;
  issue_id: number;
  subscriber_id: number | null;
  email: string | null;
  status: ColumnType<DeliveryStatus, DeliveryStatus | undefined, DeliveryStatus>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  lease_until: NullableTimestamp;
  leased_by: string | null;
  crash_resends: Generated<number>;
  message_id: string | null;
  provider_message_id: string | null;
  last_error: string | null;
  sent_at: NullableTimestamp;
  delivered_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/**
 * Signed deltas of deliveries per issue and status (migration 140): the count is sum(n) per key.
 * `resent`: of those, deliveries taken over after a lost lease.
 */
export interface DeliveryCountsTable {
  issue_id: number;
  status: DeliveryStatus;
  n: number;
  resent: ColumnType<number, number | undefined, number>;
}

/** Signed deltas of events recorded per type (migration 140); only ever grows. */
export interface EventCountsTable {
  type: EventType;
  n: number;
}

export interface EventsTable {
  id: Generated<number>;
  type: EventType;
  source: EventSource;
  external_id: string | null;
  email: string | null;
  subscriber_id: number | null;
  delivery_id: number | null;
  issue_id: number | null;
  detail: string | null;
  /** Why it bounced, in the classifier's taxonomy (core/bounce-reason.ts); null on older rows. */
  reason: string | null;
  /** The enhanced status code (5.1.1) the remote server gave, '' when none. */
  status: string | null;
  /** The remote server's own words. */
  diagnostic: string | null;
  payload: Json<unknown>;
  occurred_at: Timestamp;
  created_at: Timestamp;
}

export interface SuppressionsTable {
  email: string;
  reason: SuppressionReason;
  note: string | null;
  created_at: Timestamp;
}

export interface OutboxTable {
  id: Generated<number>;
  kind: OutboxKind;
  to_email: string;
  subscriber_id: number | null;
  payload: Json;
  status: ColumnType<OutboxStatus, OutboxStatus | undefined, OutboxStatus>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  lease_until: NullableTimestamp;
  message_id: string | null;
  last_error: string | null;
  created_at: Timestamp;
  sent_at: NullableTimestamp;
}

export interface SnsMessagesTable {
  message_id: string;
  type: string;
  topic_arn: string;
  received_at: Timestamp;
}

/** Signup rate-limit counters (migration 020); keys are HMACs, never raw addresses. */
export interface RateLimitsTable {
  key: string;
  hits: number;
  expires_at: Timestamp;
}

/** The shared SEND_RATE token bucket (one row per bucket; see migrations/…_030_send_rate.ts). */
export interface SendRateBucketsTable {
  name: string;
  tokens: number;
  rate_factor: Generated<number>;
  refreshed_at: Timestamp;
}

export type EditorRole = 'admin' | 'editor';

/** Editors of the console (migration 230); they sign in with one-time links, never passwords. */
export interface EditorsTable {
  id: Generated<number>;
  email: string;
  name: string | null;
  role: ColumnType<EditorRole, EditorRole | undefined, EditorRole>;
  created_at: Timestamp;
}

export interface EditorSignInLinksTable {
  token_hash: Buffer;
  editor_id: number;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
  created_at: Timestamp;
}

export interface EditorSessionsTable {
  id_hash: Buffer;
  editor_id: number;
  created_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: Timestamp;
  actor: string;
  editor_id: number | null;
  action: string;
  object_type: string;
  object_id: string | null;
  detail: Json;
}

export interface ConsolePreviewsTable {
  id: string;
  editor_id: number;
  html: string;
  created_at: Timestamp;
}

/** The links of an issue by position (migration 232): where a click redirect may go. */
export interface IssueLinksTable {
  issue_id: number;
  position: number;
  url: string;
  title: string;
  domain: string;
}

export type ClickKind = 'human' | 'scanner';

export interface ClicksTable {
  delivery_id: number;
  position: number;
  issue_id: number;
  kind: ClickKind;
  clicked_at: Timestamp;
}

export interface ClickTotalsTable {
  issue_id: number;
  position: number;
  human: Generated<number>;
  scanner: Generated<number>;
}

/** Delta rows of the click totals (migration 420), folded now and then into one row per kind. */
export interface ClickCountsTable {
  kind: ClickKind;
  n: number;
}

export interface IssueClickTotalsTable {
  issue_id: number;
  human_readers: Generated<number>;
  scanner_deliveries: Generated<number>;
}

/** Signed deltas of subscriptions per list and status (migration 233); the count is sum(n). */
export interface SubscriptionCountsTable {
  list_id: number;
  status: SubscriptionStatus;
  n: number;
}

export interface Database {
  subscription_counts: SubscriptionCountsTable;
  issue_links: IssueLinksTable;
  clicks: ClicksTable;
  click_totals: ClickTotalsTable;
  click_counts: ClickCountsTable;
  issue_click_totals: IssueClickTotalsTable;
  editors: EditorsTable;
  console_previews: ConsolePreviewsTable;
  editor_sign_in_links: EditorSignInLinksTable;
  editor_sessions: EditorSessionsTable;
  audit_log: AuditLogTable;
  send_rate_buckets: SendRateBucketsTable;
  lists: ListsTable;
  subscribers: SubscribersTable;
  subscriptions: SubscriptionsTable;
  issues: IssuesTable;
  deliveries: DeliveriesTable;
  delivery_counts: DeliveryCountsTable;
  event_counts: EventCountsTable;
  events: EventsTable;
  suppressions: SuppressionsTable;
  outbox: OutboxTable;
  sns_messages: SnsMessagesTable;
  rate_limits: RateLimitsTable;
  imap_messages: ImapMessagesTable;
}

export type ListRow = Selectable<ListsTable>;
export type NewList = Insertable<ListsTable>;
export type ListUpdate = Updateable<ListsTable>;
export type SubscriberRow = Selectable<SubscribersTable>;
export type SubscriptionRow = Selectable<SubscriptionsTable>;
export type IssueRow = Selectable<IssuesTable>;
export type DeliveryRow = Selectable<DeliveriesTable>;
export type EventRow = Selectable<EventsTable>;
export type SuppressionRow = Selectable<SuppressionsTable>;
export type OutboxRow = Selectable<OutboxTable>;

/** Bounce-mailbox messages the IMAP watcher has claimed or ingested (migration 210). */
export interface ImapMessagesTable {
  mailbox: string;
  uid_validity: number;
  uid: number;
  state: 'claimed' | 'done';
  claimed_by: string;
  claimed_at: Timestamp;
  result: string | null;
  detail: string | null;
  done_at: NullableTimestamp;
}
