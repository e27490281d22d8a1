-- The rules of a signup, applied by one statement to a whole set of signups (a "round" of a batch,
-- see 51_signup_batch.sql, the only caller: no two signups of a round are for the same address).
-- First created as the one-signup function digestmail_signup by migration 021; migration 430
-- replaced that by this. The rules (see OptinRepository.signupMany), for each signup:
--   - p_allowed[its index] is false when it went beyond a rate limit (counted by the batch, in the
--     batch's order, before the rounds): then write nothing else;
--   - an address that may not be mailed (10_unmailable_addresses.sql: suppressed, or a blocklisted
--     subscriber): write nothing else;
--   - the name given is never written to the subscriber here: it travels with the confirmation mail
--     (in its outbox row, never in its text) and takes effect only when that mail's link is
--     confirmed (OptinRepository.confirm), so a stranger's words reach no mail and no subscriber;
--   - a signup whose name differs from the one an earlier confirmation link of the address carries
--     takes that name off the link: whichever link the owner presses, no other signup's name wins;
--   - a list not joined before: pending (double opt-in) or confirmed with a welcome mail (single);
--   - pending or unsubscribed on a list: a confirmation mail, at most one per address per window
--     (counted on the signup's confirmKey);
--   - already confirmed: nothing (no mail; a confirmed reader changes their name on the preferences
--     page), and a list joined at once by single opt-in uses no name either (no link proved the address).
-- leaseSeconds: when the caller's own process will send the confirmation mail at once (serve hands
-- it to its outbox sender, sparing the claim), the mail is written already leased to it for that many
-- seconds (status 'sending', first attempt), as a claim would leave it; should that process die
-- before sending it, the lease runs out and any sender claims it. Null: queued for a claim.
-- One statement for the whole round, not one per signup: a statement's fixed costs (starting its
-- executor, its triggers, its commit) were most of what a signup cost the database.
-- Index scans only (enable_seqscan off inside the function): PostgreSQL keeps the plan of the statement
-- for the connection's life, and one made while a table was nearly empty (a new install, the first
-- burst of signups) scanned the whole outbox for every signup once it had grown, until an analyze
-- happened to replace the plan: 1.0 -> 1.5 ms a signup over 20,000 signups in bench:http.
create or replace function digestmail_signup_round(
  p_signups jsonb,
  p_round int,
  p_allowed boolean[]
) returns table (
  r_index int,
  r_limited boolean,
  r_accepted boolean,
  r_needs_confirm int[],
  r_confirm_hits int,
  r_joined int[],
  r_subscriber bigint,
  r_confirm_mail bigint
)
language plpgsql
set enable_seqscan = off
as $fn$
#variable_conflict use_column
begin
  return query
  with numbered as (
    select e.ordinality::int as idx, e.value as v,
           row_number() over (partition by e.value ->> 'email' order by e.ordinality) as round
    from jsonb_array_elements(p_signups) with ordinality as e
  ),
  s as (
    select n.idx,
           n.v ->> 'email' as email,
           n.v ->> 'name' as given_name,
           array(select jsonb_array_elements_text(n.v -> 'listIds')::int) as list_ids,
           n.v ->> 'ip' as ip,
           n.v ->> 'lang' as lang,
           n.v ->> 'confirmKey' as confirm_key,
           (n.v ->> 'confirmWindow')::int as confirm_window,
           (n.v ->> 'leaseSeconds')::int as lease,
           coalesce(p_allowed[n.idx], true) as allowed
    from numbered n where n.round = p_round
  ),
  sub as (
    insert into subscribers as x (email, name)
    select s.email, null from s
    where s.allowed
      and not exists (select 1 from digestmail_unmailable_addresses() u where u.email = s.email)
    order by s.email
    on conflict (email) do update set updated_at = x.updated_at
    returning id, email
  ),
  active as (select s.*, sub.id as sid from s join sub using (email)),
  lists_in as (select id, opt_in from lists where id in (select unnest(a.list_ids) from active a)),
  prior as (
    select sn.subscriber_id as sid, sn.list_id, sn.status
    from active a join subscriptions sn on sn.subscriber_id = a.sid and sn.list_id = any(a.list_ids)
  ),
  added as (
    insert into subscriptions (subscriber_id, list_id, status, source, ip, confirmed_at)
    select a.sid, l.id,
      case when l.opt_in = 'single' then 'confirmed' else 'pending' end,
      'form', a.ip,
      case when l.opt_in = 'single' then now() end
    from active a join lists_in l on l.id = any(a.list_ids)
    order by a.sid, l.id
    on conflict (subscriber_id, list_id) do nothing
    returning subscriber_id as sid, list_id, status
  ),
  needs_confirm as (
    select sid, list_id from added where status = 'pending'
    union
    select sid, list_id from prior where status in ('pending', 'unsubscribed')
  ),
  joined as (select sid, list_id from added where status = 'confirmed'),
  contested as (
    update outbox o set payload = o.payload - 'name'
    from active a
    where o.to_email = a.email and o.kind = 'confirm' and o.payload ? 'name'
      and o.payload ->> 'name' is distinct from a.given_name
    returning o.id
  ),
  throttle as (
    insert into rate_limits as r (key, hits, expires_at)
    select a.confirm_key, 1, now() + make_interval(secs => a.confirm_window)
    from active a where exists (select 1 from needs_confirm nc where nc.sid = a.sid)
    order by a.confirm_key
    on conflict (key) do update set
      hits = case when r.expires_at <= now() then 1 else r.hits + 1 end,
      expires_at = case when r.expires_at <= now() then excluded.expires_at else r.expires_at end
    returning key, hits
  ),
  mail as (
    insert into outbox (kind, to_email, subscriber_id, payload, status, attempts, lease_until)
    select 'confirm', a.email, a.sid,
      jsonb_build_object('lists', (select jsonb_agg(nc.list_id order by nc.list_id) from needs_confirm nc where nc.sid = a.sid), 'lang', a.lang)
        || case when a.given_name is null then '{}'::jsonb else jsonb_build_object('name', a.given_name) end,
      case when a.lease is null then 'pending' else 'sending' end,
      case when a.lease is null then 0 else 1 end,
      now() + make_interval(secs => a.lease)
    from active a join throttle t on t.key = a.confirm_key where t.hits = 1
    union all
    select 'welcome', a.email, a.sid,
      jsonb_build_object('lists', (select jsonb_agg(j.list_id order by j.list_id) from joined j where j.sid = a.sid), 'lang', a.lang),
      'pending', 0, null
    from active a where exists (select 1 from joined j where j.sid = a.sid)
    returning id, kind, to_email
  )
  select
    s.idx,
    not s.allowed,
    a.sid is not null,
    (select array_agg(nc.list_id order by nc.list_id) from needs_confirm nc where nc.sid = a.sid),
    (select t.hits from throttle t where t.key = a.confirm_key),
    (select array_agg(j.list_id order by j.list_id) from joined j where j.sid = a.sid),
    a.sid,
    (select m.id from mail m where m.kind = 'confirm' and m.to_email = s.email)
  from s left join active a on a.idx = s.idx
  cross join (select count(*) from contested) as uncontested
  order by s.idx;
end
$fn$
