-- Applying one bounce, complaint or delivery event as one PL/pgSQL function, so PostgreSQL plans its
-- statement once per connection instead of once per event: planning this many-CTE statement cost
-- more than running it, and the SNS webhook must take bursts of a thousand notifications a second on
-- two cores. BouncesRepository.applyEventStatement calls it. First created by migration 041, given
-- the classifier's reason, status and diagnostic by migration 120; this file is its definition from
-- then on. In order, all in one statement:
--   - remember the SNS message id when one is given; if it was known already, do nothing else;
--   - find the delivery: by our id, else the SES MessageId, else our Message-ID;
--   - act only on the address of the delivery it matched: a matched delivery whose address was
--     erased, or whose address is not the one the notification names, records nothing (issue 11: a
--     forged bounce must not suppress anyone); an event that matches no delivery (SES about system
--     mail; SNS messages are signed by AWS) acts on the address it names;
--   - insert the event, with its reason, status and diagnostic, unless its external id is known (a
--     replay): if known, do nothing else;
--   - move the delivery to p_next_status if its status is one of p_allowed (events only move forward);
--   - suppress the address as p_suppress_as (hard_bounce, complaint), keeping an earlier reason;
--   - for a complaint, unsubscribe the reader from every list.
-- The commit stays synchronous: SNS is told 200 only for what is on disk.
-- Planned once per connection in fact, not only in intent: with its parameters known PostgreSQL finds
-- each event's own plan cheaper than the general one (a null id prunes a branch of the delivery
-- lookup) and so planned the statement again for every event, a fifth of the database's CPU in
-- bench:webhook; plan_cache_mode keeps the general plan. Index scans only (enable_seqscan off): a
-- general plan made while the tables were nearly empty would scan them whole for good.

-- One statement per file (the embedded database applies it as one prepared statement): the
-- signature before migration 120 is dropped by that migration.
create or replace function digestmail_apply_mail_event(
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
language plpgsql
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $fn$
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
$fn$;
