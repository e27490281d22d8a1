-- The signup as one PL/pgSQL function, so PostgreSQL plans its statement once per connection instead
-- of once per signup: planning this many-CTE statement cost more than running it, and the signup form
-- must take bursts of 1,500 a second on two cores. First created by migration 021; this file is its
-- definition from then on. The rules (see OptinRepository.signup, which calls it) in order:
--   - count one hit on every rate-limit key; beyond any limit write nothing else;
--   - an address that may not be mailed (10_unmailable_addresses.sql: suppressed, or a blocklisted
--     subscriber): write nothing else;
--   - the name given is never written to the subscriber here: it travels with the confirmation mail
--     (in its outbox row, never in its text) and takes effect only when that mail's link is
--     confirmed (OptinRepository.confirm), so a stranger's words reach no mail and no subscriber;
--   - a signup whose name differs from the one an earlier confirmation link of the address carries
--     takes that name off the link: whichever link the owner presses, no other signup's name wins;
--   - a list not joined before: pending (double opt-in) or confirmed with a welcome mail (single);
--   - pending or unsubscribed on a list: a confirmation mail, at most one per address per window;
--   - already confirmed: nothing (no mail; a confirmed reader changes their name on the preferences
--     page), and a list joined at once by single opt-in uses no name either (no link proved the address).
-- Index scans only (enable_seqscan off inside the function): PostgreSQL keeps the plan of the statement
-- for the connection's life, and one made while a table was nearly empty (a new install, the first
-- burst of signups) scanned the whole outbox for every signup once it had grown, until an analyze
-- happened to replace the plan: 1.0 -> 1.5 ms a signup over 20,000 signups in bench:http.
-- The commit is asynchronous (synchronous_commit off for this transaction only): a crash can lose
-- the last fraction of a second of signups, whose readers then see no mail and send the form again;
-- no other write of the product is made this way.
-- p_lease_seconds: when the caller's own process will send the confirmation mail at once (serve hands
-- it to its outbox sender, sparing the claim), the mail is written already leased to it for that many
-- seconds (status 'sending', first attempt), as a claim would leave it; should that process die
-- before sending it, the lease runs out and any sender claims it. Null: queued for a claim.
create or replace function digestmail_signup(
  p_email text,
  p_name text,
  p_list_ids int[],
  p_ip text,
  p_lang text,
  p_limit_keys text[],
  p_limit_windows int[],
  p_limit_maxes int[],
  p_confirm_key text,
  p_confirm_window int,
  p_lease_seconds int
) returns table (
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
  perform set_config('synchronous_commit', 'off', true);
  return query
  with hits as (
    insert into rate_limits as r (key, hits, expires_at)
    select key, 1, now() + make_interval(secs => seconds)
    from unnest(p_limit_keys, p_limit_windows) as t(key, seconds)
    on conflict (key) do update set
      hits = case when r.expires_at <= now() then 1 else r.hits + 1 end,
      expires_at = case when r.expires_at <= now() then excluded.expires_at else r.expires_at end
    returning key, hits
  ),
  allowed as (
    select coalesce(bool_and(h.hits <= l.max), true) as ok
    from hits h join unnest(p_limit_keys, p_limit_maxes) as l(key, max) using (key)
  ),
  sub as (
    insert into subscribers as s (email, name)
    select p_email, null
    where (select ok from allowed)
      and not exists (select 1 from digestmail_unmailable_addresses() u where u.email = p_email)
    on conflict (email) do update set updated_at = s.updated_at
    returning id, email
  ),
  active as (select id, email from sub),
  lists_in as (select id, opt_in from lists where id = any(p_list_ids)),
  prior as (
    select list_id, status from subscriptions
    where subscriber_id = (select id from active) and list_id = any(p_list_ids)
  ),
  added as (
    insert into subscriptions (subscriber_id, list_id, status, source, ip, confirmed_at)
    select a.id, l.id,
      case when l.opt_in = 'single' then 'confirmed' else 'pending' end,
      'form', p_ip,
      case when l.opt_in = 'single' then now() end
    from active a cross join lists_in l
    on conflict (subscriber_id, list_id) do nothing
    returning list_id, status
  ),
  needs_confirm as (
    select list_id from added where status = 'pending'
    union
    select list_id from prior where status in ('pending', 'unsubscribed')
  ),
  joined as (select list_id from added where status = 'confirmed'),
  contested as (
    update outbox o set payload = o.payload - 'name'
    where exists (select 1 from active)
      and o.to_email = p_email and o.kind = 'confirm' and o.payload ? 'name'
      and o.payload ->> 'name' is distinct from p_name
    returning o.id
  ),
  throttle as (
    insert into rate_limits as r (key, hits, expires_at)
    select p_confirm_key, 1, now() + make_interval(secs => p_confirm_window)
    where exists (select 1 from needs_confirm)
    on conflict (key) do update set
      hits = case when r.expires_at <= now() then 1 else r.hits + 1 end,
      expires_at = case when r.expires_at <= now() then excluded.expires_at else r.expires_at end
    returning hits
  ),
  mail as (
    insert into outbox (kind, to_email, subscriber_id, payload, status, attempts, lease_until)
    select 'confirm', a.email, a.id,
      jsonb_build_object('lists', (select jsonb_agg(list_id order by list_id) from needs_confirm), 'lang', p_lang)
        || case when p_name is null then '{}'::jsonb else jsonb_build_object('name', p_name) end,
      case when p_lease_seconds is null then 'pending' else 'sending' end,
      case when p_lease_seconds is null then 0 else 1 end,
      now() + make_interval(secs => p_lease_seconds)
    from active a where (select hits from throttle) = 1
    union all
    select 'welcome', a.email, a.id,
      jsonb_build_object('lists', (select jsonb_agg(list_id order by list_id) from joined), 'lang', p_lang),
      'pending', 0, null
    from active a where exists (select 1 from joined)
    returning id, kind
  )
  select
    not (select ok from allowed),
    exists (select 1 from active),
    (select array_agg(list_id order by list_id) from needs_confirm),
    (select hits from throttle),
    (select array_agg(list_id order by list_id) from joined),
    (select id from active),
    (select id from mail where kind = 'confirm')
  from (select count(*) from contested) as uncontested;
end
$fn$
