-- Signups in one call and one transaction: what OptinRepository.signupMany sends (SignupService
-- gathers the signups that arrived while the previous call was running; one signup is a batch of
-- one). p_signups is a JSON array of objects {email, name, listIds, ip, lang, limitKeys,
-- limitWindows, limitMaxes, confirmKey, confirmWindow, leaseSeconds}; row i of the result (o_index
-- i, from 1) is the outcome of element i. The outcome is the one of applying the signups one after
-- the other, in the order given:
--   1. every rate-limit key's hits are counted for the whole batch in one statement, each signup
--      judged on the count its own hit made (the batch's earlier signups' hits included); beyond
--      any limit it writes nothing else (the counters of the whole batch are the rules' first step);
--   2. then digestmail_signup_round (50_signup.sql, the rules' one owner) applies the rest to the
--      signups in rounds: round k holds each address's k-th signup of the batch, so a round never
--      names an address twice and a later signup of an address sees what the earlier one wrote.
-- Signups of one batch lock rows of each other's rate-limit counters, subscribers and outbox while
-- the batch lasts. Two batches taking them in their own orders could each wait for the other; so the
-- batch first takes a transaction lock on every rate-limit and confirmation key it will count (the
-- address key stands for the address's own rows), in one order.
-- The commit is asynchronous (synchronous_commit off for this transaction only): a crash can lose
-- the last fraction of a second of signups, whose readers then see no mail and send the form again;
-- no other write of the product is made this way.
create or replace function digestmail_signup_batch(p_signups jsonb)
returns table (
  o_index int,
  o_limited boolean,
  o_accepted boolean,
  o_needs_confirm int[],
  o_confirm_hits int,
  o_joined int[],
  o_subscriber bigint,
  o_confirm_mail bigint
)
language plpgsql
set enable_seqscan = off
as $fn$
declare
  v_key bigint;
  v_allowed boolean[];
  v_rounds int;
begin
  perform set_config('synchronous_commit', 'off', true);
  for v_key in
    select distinct hashtextextended(k.key, 6515820)
      from jsonb_array_elements(p_signups) as s(value)
      cross join lateral (
        select jsonb_array_elements_text(s.value -> 'limitKeys')
        union all
        select s.value ->> 'confirmKey'
      ) as k(key)
     order by 1
  loop
    perform pg_advisory_xact_lock(v_key);
  end loop;

  with signups as (
    select e.ordinality::int as idx, e.value as v
    from jsonb_array_elements(p_signups) with ordinality as e
  ),
  keyed as (
    select s.idx, k.key, k.seconds, k.max
    from signups s
    cross join lateral unnest(
      array(select jsonb_array_elements_text(s.v -> 'limitKeys')),
      array(select jsonb_array_elements_text(s.v -> 'limitWindows')::int),
      array(select jsonb_array_elements_text(s.v -> 'limitMaxes')::int)
    ) as k(key, seconds, max)
  ),
  per_key as (select key, count(*)::int as n, min(seconds) as seconds from keyed group by key),
  counted as (
    insert into rate_limits as r (key, hits, expires_at)
    select key, n, now() + make_interval(secs => seconds) from per_key
    order by key
    on conflict (key) do update set
      hits = case when r.expires_at <= now() then excluded.hits else r.hits + excluded.hits end,
      expires_at = case when r.expires_at <= now() then excluded.expires_at else r.expires_at end
    returning key, hits
  ),
  -- The count a signup's own hit made: the key's count after the batch, less the hits of the
  -- batch's later signups on that key.
  judged as (
    select k.idx,
           c.hits - p.n + row_number() over (partition by k.key order by k.idx) <= k.max as ok
    from keyed k join counted c using (key) join per_key p using (key)
  )
  select array_agg(coalesce((select bool_and(j.ok) from judged j where j.idx = s.idx), true) order by s.idx),
         (select max(c) from (
            select count(*)::int as c from signups x group by x.v ->> 'email'
          ) as per_address)
    into v_allowed, v_rounds
    from signups s;

  for v_round in 1 .. coalesce(v_rounds, 0) loop
    return query
      select f.r_index, f.r_limited, f.r_accepted, f.r_needs_confirm, f.r_confirm_hits, f.r_joined,
             f.r_subscriber, f.r_confirm_mail
        from digestmail_signup_round(p_signups, v_round, v_allowed) as f;
  end loop;
end
$fn$
