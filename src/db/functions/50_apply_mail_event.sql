-- The rules of a bounce, complaint or delivery event, applied by one statement to a whole set of
-- events (a "round" of a batch, see 51_apply_mail_events.sql, the only caller: no two events of a
-- round are about the same address). First created as the one-event function
-- digestmail_apply_mail_event by migration 041, given the classifier's reason, status and diagnostic
-- by migration 120; migration 440 replaced that by this. p_events is the batch (its format is in
-- 51_apply_mail_events.sql); the round is the events that are each their address's p_round-th in
-- the batch, leaving out the notifications in p_duplicates (their SNS message was known) and those
-- without events. For each event of the round:
--   - find the delivery: by our id, else the SES MessageId, else our Message-ID;
--   - act only on the address of the delivery it matched: a matched delivery whose address was
--     erased, or whose address is not the one the event names, records nothing (issue 11: a forged
--     bounce must not suppress anyone); an event that matches no delivery (SES about system mail;
--     SNS messages are signed by AWS) acts on the address it names;
--   - insert the event, with its reason, status and diagnostic, unless its external id is known (a
--     replay): if known, do nothing else;
--   - move the delivery to next_status if its status is one of allowed (events only move forward);
--   - suppress the address as suppress_as (hard_bounce, complaint), keeping an earlier reason;
--   - a soft bounce that makes p_soft_bounce_limit soft bounces about the mailbox (full, disabled,
--     over its limit, or of no known reason) for its address within p_soft_bounce_days suppresses
--     it as soft_bounce_limit, keeping an earlier reason. A block, a spam verdict or a policy
--     rejection is about our mail and never counts against the reader;
--   - for a complaint, unsubscribe the reader from every list.
-- Returns one row per event of the round: r_index and r_event (the notification and the event
-- within it), whether it was recorded, the delivery and issue it was recorded against, and what it
-- suppressed the address as.
-- One statement for the whole round, not one per event: a statement's fixed costs (starting its
-- executor, the counting triggers on events and deliveries) were most of what an event cost the
-- database once its commit was shared by a batch.
-- Planned once per connection in fact, not only in intent (plan_cache_mode): with its parameters
-- known PostgreSQL found each call's own plan cheaper than the general one and so planned the
-- one-event statement again for every event, a fifth of the database's CPU in bench:webhook. Index
-- scans only (enable_seqscan off): a general plan made while the tables were nearly empty would scan
-- them whole for good.
create or replace function digestmail_apply_mail_event_round(
  p_events jsonb,
  p_round integer,
  p_duplicates integer[],
  p_soft_bounce_limit integer,
  p_soft_bounce_days integer
) returns table (
  r_index integer,
  r_event integer,
  r_recorded boolean,
  r_delivery_id bigint,
  r_issue_id integer,
  r_suppressed text
)
language plpgsql
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $fn$
#variable_conflict use_column
begin
  return query
  with numbered as (
    select x.*, row_number() over (partition by x.email order by x.n, x.e) as turn
      from jsonb_to_recordset(p_events) as x(
        n integer, e integer, type text, source text, external_id text, email text, delivery_id bigint,
        provider_id text, message_id text, detail text, payload jsonb, occurred_at timestamptz,
        next_status text, allowed text[], suppress_as text, reason text, status text, diagnostic text
      )
     where x.type is not null and x.n <> all(p_duplicates)
  ),
  this_round as (
    select * from numbered where turn = p_round
  ),
  -- The address acted on: the matched delivery's, never the one the event names. A delivery whose
  -- address was erased matches nothing; an event naming someone else than the delivery it matched
  -- is not about that delivery and changes nothing.
  subject as (
    select i.*, t.id as d_id, t.issue_id as d_issue_id, t.subscriber_id as d_subscriber_id
      from this_round i
      left join lateral (
        select d.id, d.issue_id, d.subscriber_id, d.email from deliveries d
         where d.id = i.delivery_id or d.provider_message_id = i.provider_id or d.message_id = i.message_id
         order by (d.id = i.delivery_id) is true desc, (d.provider_message_id = i.provider_id) is true desc
         limit 1
      ) t on true
     where t.id is null or (t.email is not null and t.email = i.email)
  ),
  -- One row per address at most (a round names each address once): the address is the key below.
  recorded as (
    insert into events (type, source, external_id, email, subscriber_id, delivery_id, issue_id, detail,
                        reason, status, diagnostic, payload, occurred_at)
    select s.type, s.source, s.external_id, s.email,
           coalesce(s.d_subscriber_id, (select x.id from subscribers x where x.email = s.email)),
           s.d_id, s.d_issue_id, s.detail, s.reason, s.status, left(s.diagnostic, 1000), s.payload,
           s.occurred_at
      from subject s
     order by s.n, s.e
    on conflict (external_id) do nothing
    returning events.email, events.delivery_id, events.issue_id
  ),
  applied as (
    select s.*, r.delivery_id as recorded_delivery_id, r.issue_id as recorded_issue_id
      from subject s join recorded r on r.email = s.email
  ),
  advanced as (
    update deliveries d
       set status = a.next_status,
           delivered_at = case when a.next_status = 'delivered' then a.occurred_at else d.delivered_at end,
           last_error = case when a.next_status = 'delivered' then d.last_error else a.detail end,
           lease_until = case when a.next_status = 'delivered' then d.lease_until end,
           updated_at = now()
      from applied a
     where d.id = a.recorded_delivery_id and a.next_status is not null and d.status = any(a.allowed)
    returning d.id
  ),
  -- The soft bounces counted before this statement, and the one recorded by it if it counts.
  soft as (
    select a.email,
           (select count(*) from events v
             where v.email = a.email and v.type = 'soft_bounce'
               and (v.reason is null or v.reason in ('mailboxfull', 'suspend', 'exceedlimit', 'undefined'))
               and v.occurred_at > now() - make_interval(days => p_soft_bounce_days))
           + case when (a.reason is null or a.reason in ('mailboxfull', 'suspend', 'exceedlimit', 'undefined'))
                   and a.occurred_at > now() - make_interval(days => p_soft_bounce_days)
                  then 1 else 0 end as n
      from applied a
     where a.type = 'soft_bounce'
  ),
  suppressed as (
    insert into suppressions (email, reason, note)
    select a.email, coalesce(a.suppress_as, 'soft_bounce_limit'),
           case when a.suppress_as is not null then left(a.detail, 500)
                else left(format('%s soft bounces in %s days; last: %s', k.n, p_soft_bounce_days, a.detail), 500)
           end
      from applied a left join soft k on k.email = a.email
     where a.suppress_as is not null or k.n >= p_soft_bounce_limit
     order by a.n, a.e
    on conflict (email) do nothing
    returning suppressions.email, suppressions.reason
  ),
  unsubscribed as (
    update subscriptions sn
       set status = 'unsubscribed', unsubscribed_at = now(), updated_at = now()
     where sn.subscriber_id in (
             select x.id from subscribers x join applied a on a.email = x.email where a.type = 'complaint'
           )
       and sn.status <> 'unsubscribed'
    returning 1
  )
  select i.n, i.e, a.email is not null, a.recorded_delivery_id, a.recorded_issue_id, x.reason
    from this_round i
    left join applied a on a.email = i.email
    left join suppressed x on x.email = i.email
   order by i.n, i.e;
end
$fn$
