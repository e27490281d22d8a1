-- Many notifications' bounce, complaint and delivery events in one call and one transaction: what
-- BouncesRepository.applyNotifications sends (BouncesService gathers the SNS notifications that
-- arrive while the previous call is running; a DSN mail or one notification is a batch of one). At a
-- thousand notifications a second, one transaction and one synchronous commit (a WAL flush) per
-- notification cost PostgreSQL more than the events themselves; a batch pays them once. The commit
-- stays synchronous: SNS is told 200 only for what is on disk.
--
-- p_events is a JSON array with one object per event, ordered by (n, e): n numbers the notification
-- (from 1), e the event within it (from 1; a notification without events is one object with e 0 and
-- no type). The first object of a notification carries its SNS message (sns_id, sns_type,
-- topic_arn) when it came through SNS. The outcome is the one of applying the notifications one
-- after the other, in order, each as a whole:
--   1. the SNS messages are remembered in one statement, in order: a notification whose SNS message
--      was known before, or came earlier in the batch, is a duplicate: one row (o_duplicate) and
--      nothing of it is applied;
--   2. then digestmail_apply_mail_event_round (50_apply_mail_event.sql, the rules' one owner)
--      applies the events of the other notifications in rounds: round k holds each address's k-th
--      event of the batch, so a round never names an address twice and a later event about an
--      address sees what the earlier ones wrote. Events about different addresses touch different
--      rows (a delivery is only changed by an event naming its address, and an event's external id
--      names its recipient), so their order does not matter. One row per event: o_index n, o_event e.
-- Events of one batch lock rows of their addresses (the delivery, the suppression, the
-- subscriptions, the event and SNS message ids, the soft-bounce count) until the batch commits. Two
-- batches taking them in their own orders could each wait for the other; so every address and SNS
-- message id of the batch is first locked in one order (ascending key, a transaction-scoped
-- advisory lock): two batches about the same address take turns. The same lock makes two soft
-- bounces for one address take turns, so they cannot both count below the limit.
create or replace function digestmail_apply_mail_events(
  p_events jsonb,
  p_soft_bounce_limit integer,
  p_soft_bounce_days integer
) returns table (
  o_index integer,
  o_event integer,
  o_duplicate boolean,
  o_recorded boolean,
  o_delivery_id bigint,
  o_issue_id integer,
  o_suppressed text
)
language plpgsql
as $fn$
declare
  v_key integer;
  v_duplicates integer[];
  v_rounds integer;
begin
  -- 0x6d6576 ('mev') keeps these keys apart from the application's other advisory locks.
  for v_key in
    select distinct hashtext(k.key)
      from jsonb_array_elements(p_events) as x(value)
      cross join lateral (values (x.value ->> 'email'), (x.value ->> 'sns_id')) as k(key)
     where k.key is not null
     order by 1
  loop
    perform pg_advisory_xact_lock(7169398, v_key);
  end loop;

  with given as (
    select x.n, x.sns_id, x.sns_type, x.topic_arn, min(x.n) over (partition by x.sns_id) as first
      from jsonb_to_recordset(p_events) as x(n integer, sns_id text, sns_type text, topic_arn text)
     where x.sns_id is not null
  ),
  remembered as (
    insert into sns_messages (message_id, type, topic_arn)
    select g.sns_id, g.sns_type, g.topic_arn from given g where g.n = g.first order by g.n
    on conflict (message_id) do nothing
    returning message_id
  )
  select coalesce(array_agg(g.n), '{}')
    into v_duplicates
    from given g
   where g.n <> g.first or g.sns_id not in (select r.message_id from remembered r);

  return query
    select d, 0, true, false, null::bigint, null::integer, null::text from unnest(v_duplicates) as d;

  select max(c.n) into v_rounds
    from (
      select count(*)::integer as n
        from jsonb_to_recordset(p_events) as x(n integer, type text, email text)
       where x.type is not null and x.n <> all(v_duplicates)
       group by x.email
    ) as c;

  for v_round in 1 .. coalesce(v_rounds, 0) loop
    return query
      select f.r_index, f.r_event, false, f.r_recorded, f.r_delivery_id, f.r_issue_id, f.r_suppressed
        from digestmail_apply_mail_event_round(
          p_events, v_round, v_duplicates, p_soft_bounce_limit, p_soft_bounce_days
        ) as f;
  end loop;
end
$fn$
