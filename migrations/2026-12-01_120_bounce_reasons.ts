import { type Kysely, sql } from 'kysely';

/**
 * Bounce intelligence (issue 13) and a forged-bounce fix (issue 11, point 1).
 *
 * Events keep what the bounce classifier found: the reason (its taxonomy), the enhanced status code
 * and the remote server's words, so `issue status`, `bounces ls` and the console can say why mail
 * bounced without re-reading payloads.
 *
 * digestmail_apply_mail_event (migration 041) is replaced by one that takes those three values and
 * acts only on the address of the delivery it matched: before, it suppressed whatever address the
 * notification named, so a DSN quoting the Message-ID of an erased reader's delivery (address NULL)
 * could suppress anyone. Now a matched delivery without an address, or one whose address is not the
 * one named, records nothing. Events that match no delivery (an SES event about system mail) still
 * act on the address SES names: SNS messages are signed by AWS.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('events')
    .addColumn('reason', 'text')
    .addColumn('status', 'text')
    .addColumn('diagnostic', 'text')
    .execute();
  await sql`create index events_issue_reason_idx on events (issue_id, reason) where reason is not null`.execute(
    db,
  );
  await sql`drop function digestmail_apply_mail_event(text, text, text, text, text, text, text, bigint, text, text, text, jsonb, timestamptz, text, text[], text)`.execute(
    db,
  );
  await sql`
    create function digestmail_apply_mail_event(
      p_sns_id text,
      p_sns_type text,
      p_topic_arn text,
      p_type text,
      p_source text,
      p_external_id text,
      p_email text,
      p_delivery_id bigint,
      p_provider_id text,
      p_message_id text,
      p_detail text,
      p_payload jsonb,
      p_occurred_at timestamptz,
      p_next_status text,
      p_allowed text[],
      p_suppress_as text,
      p_reason text,
      p_status text,
      p_diagnostic text
    ) returns table (
      r_fresh boolean,
      r_recorded boolean,
      r_delivery_id bigint,
      r_issue_id int,
      r_suppressed text
    )
    language plpgsql as $fn$
    begin
      return query
      with remembered as (
        insert into sns_messages (message_id, type, topic_arn)
        select p_sns_id, p_sns_type, p_topic_arn
        where p_sns_id is not null
        on conflict (message_id) do nothing
        returning message_id
      ),
      target as (
        select d.id, d.issue_id, d.subscriber_id, d.email from deliveries d
        where d.id = p_delivery_id or d.provider_message_id = p_provider_id or d.message_id = p_message_id
        order by (d.id = p_delivery_id) is true desc, (d.provider_message_id = p_provider_id) is true desc
        limit 1
      ),
      -- The address acted on: the matched delivery's, never the one the notification names. A
      -- delivery whose address was erased matches nothing; a notification naming someone else than
      -- the delivery it matched is not about that delivery and changes nothing.
      subject as (
        select t.id, t.issue_id, t.subscriber_id, t.email
        from (values (1)) as one (x) left join target t on true
        where t.id is null or (t.email is not null and t.email = p_email)
      ),
      recorded as (
        insert into events (type, source, external_id, email, subscriber_id, delivery_id, issue_id, detail,
                            reason, status, diagnostic, payload, occurred_at)
        select p_type, p_source, p_external_id, coalesce(s.email, p_email),
               coalesce(s.subscriber_id, (select x.id from subscribers x where x.email = p_email)),
               s.id, s.issue_id, p_detail, p_reason, p_status, left(p_diagnostic, 1000), p_payload, p_occurred_at
        from subject s
        where p_sns_id is null or exists (select 1 from remembered)
        on conflict (external_id) do nothing
        returning events.id, events.delivery_id, events.issue_id, events.email
      ),
      advanced as (
        update deliveries d
        set status = p_next_status,
            delivered_at = case when p_next_status = 'delivered' then p_occurred_at else d.delivered_at end,
            last_error = case when p_next_status = 'delivered' then d.last_error else p_detail end,
            lease_until = case when p_next_status = 'delivered' then d.lease_until end,
            updated_at = now()
        from recorded r
        where d.id = r.delivery_id and p_next_status is not null and d.status = any(p_allowed)
        returning d.id
      ),
      suppressed as (
        insert into suppressions (email, reason, note)
        select r.email, p_suppress_as, left(p_detail, 500)
        from recorded r where p_suppress_as is not null and r.email is not null
        on conflict (email) do nothing
        returning suppressions.reason
      ),
      unsubscribed as (
        update subscriptions sn
        set status = 'unsubscribed', unsubscribed_at = now(), updated_at = now()
        where p_type = 'complaint'
          and exists (select 1 from recorded)
          and sn.subscriber_id in (select s.id from subscribers s join recorded r on s.email = r.email)
          and sn.status <> 'unsubscribed'
        returning 1
      )
      select exists (select 1 from remembered), r.id is not null, r.delivery_id, r.issue_id,
             (select x.reason from suppressed x)
      from (values (1)) as one (x) left join recorded r on true;
    end
    $fn$
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function if exists digestmail_apply_mail_event(text, text, text, text, text, text, text, bigint, text, text, text, jsonb, timestamptz, text, text[], text, text, text, text)`.execute(
    db,
  );
  await sql`drop index if exists events_issue_reason_idx`.execute(db);
  await db.schema
    .alterTable('events')
    .dropColumn('reason')
    .dropColumn('status')
    .dropColumn('diagnostic')
    .execute();
  // Migration 041's function, as it was.
  const { up: restore041 } = await import('./2026-11-29_041_mail_event_function.ts');
  await restore041(db);
}
