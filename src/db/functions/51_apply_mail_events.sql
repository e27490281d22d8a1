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
--   - the SNS message is remembered with the notification's first event (or alone, without events);
--     if it was known already, the notification is a duplicate: one row (o_duplicate) and nothing
--     else of it is applied;
--   - each event is applied by digestmail_apply_mail_event (50_apply_mail_event.sql, the rules' one
--     owner for a single event): one row per event, o_index n and o_event e;
--   - a soft bounce that was recorded, with p_soft_bounce_limit or more soft bounces about the
--     mailbox (full, disabled, over its limit, or of no known reason) for its address within
--     p_soft_bounce_days, suppresses the address as soft_bounce_limit (o_suppressed) unless it is
--     suppressed already. A block, a spam verdict or a policy rejection is about our mail and never
--     counts against the reader.
-- Events of one batch lock rows of their addresses (the delivery, the suppression, the
-- subscriptions, the event and SNS message ids, the soft-bounce count) until the batch commits. Two
-- batches taking them event by event in their own orders could each wait for the other; so every
-- address and SNS message id of the batch is first locked in one order (ascending key, a
-- transaction-scoped advisory lock): two batches about the same address take turns. A delivery is
-- only ever changed by an event naming its own address, so the address lock covers it too. The same
-- lock makes two soft bounces for one address take turns, so they cannot both count below the limit.
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
-- The count of soft bounces is planned once per connection, maybe while events was nearly empty:
-- index scans only, as in digestmail_apply_mail_event.
set enable_seqscan = off
as $fn$
declare
  v_key integer;
  e record;
  r record;
  v_first boolean;
  v_last integer := 0;
  v_duplicate integer := 0;
  v_soft integer;
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

  for e in
    select *
      from jsonb_to_recordset(p_events) as x(
        n integer, e integer, sns_id text, sns_type text, topic_arn text, type text, source text,
        external_id text, email text, delivery_id bigint, provider_id text, message_id text,
        detail text, payload jsonb, occurred_at timestamptz, next_status text, allowed text[],
        suppress_as text, reason text, status text, diagnostic text
      )
     order by x.n, x.e
  loop
    if e.n = v_duplicate then
      continue;
    end if;
    v_first := e.n <> v_last;
    v_last := e.n;
    o_index := e.n;
    o_event := e.e;
    o_duplicate := false;
    o_recorded := false;
    o_delivery_id := null;
    o_issue_id := null;
    o_suppressed := null;

    if e.type is null then
      -- A notification without events: only its SNS message is remembered.
      if e.sns_id is not null then
        insert into sns_messages (message_id, type, topic_arn)
        values (e.sns_id, e.sns_type, e.topic_arn)
        on conflict (message_id) do nothing;
        if not found then
          o_duplicate := true;
          return next;
        end if;
      end if;
      continue;
    end if;

    select * into r
      from digestmail_apply_mail_event(
        case when v_first then e.sns_id end, e.sns_type, e.topic_arn, e.type, e.source,
        e.external_id, e.email, e.delivery_id, e.provider_id, e.message_id, e.detail, e.payload,
        e.occurred_at, e.next_status, e.allowed, e.suppress_as, e.reason, e.status, e.diagnostic
      );
    if v_first and e.sns_id is not null and not r.r_fresh then
      v_duplicate := e.n;
      o_duplicate := true;
      return next;
      continue;
    end if;
    o_recorded := r.r_recorded;
    o_delivery_id := r.r_delivery_id;
    o_issue_id := r.r_issue_id;
    o_suppressed := r.r_suppressed;

    if e.type = 'soft_bounce' and r.r_recorded then
      select count(*) into v_soft
        from events v
       where v.email = e.email and v.type = 'soft_bounce'
         and (v.reason is null or v.reason in ('mailboxfull', 'suspend', 'exceedlimit', 'undefined'))
         and v.occurred_at > now() - make_interval(days => p_soft_bounce_days);
      if v_soft >= p_soft_bounce_limit then
        insert into suppressions (email, reason, note)
        values (e.email, 'soft_bounce_limit',
                left(format('%s soft bounces in %s days; last: %s', v_soft, p_soft_bounce_days, e.detail), 500))
        on conflict (email) do nothing;
        if found then
          o_suppressed := 'soft_bounce_limit';
        end if;
      end if;
    end if;
    return next;
  end loop;
end
$fn$
