-- Many signups in one call and one transaction: what OptinRepository.signupMany sends when signups
-- arrive faster than one round trip each (SignupService gathers those that came in while the
-- previous call was running). Each signup is judged and written by digestmail_signup
-- (50_signup.sql), the rules' one owner, in the order given; row i of the result (o_index i, from 1)
-- is what that call returned for element i of p_signups, a JSON array of objects
-- {email, name, listIds, ip, lang, limitKeys, limitWindows, limitMaxes, confirmKey, confirmWindow,
-- leaseSeconds}
-- with the meaning of digestmail_signup's parameters.
-- Signups of one batch lock rows of each other's rate-limit counters, subscribers and outbox while
-- the batch lasts. Two batches taking them signup by signup, in their own orders, could each wait
-- for the other; so the batch first takes a transaction lock on every rate-limit and confirmation
-- key it will count (the address key stands for the address's own rows), in one order.
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
language plpgsql as $fn$
declare
  v_key bigint;
  v_signup jsonb;
  v_index int;
begin
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
  for v_signup, v_index in
    select e.value, e.ordinality::int from jsonb_array_elements(p_signups) with ordinality as e(value, ordinality)
  loop
    return query
      select v_index, f.r_limited, f.r_accepted, f.r_needs_confirm, f.r_confirm_hits, f.r_joined,
             f.r_subscriber, f.r_confirm_mail
        from digestmail_signup(
          v_signup ->> 'email',
          v_signup ->> 'name',
          array(select jsonb_array_elements_text(v_signup -> 'listIds')::int),
          v_signup ->> 'ip',
          v_signup ->> 'lang',
          array(select jsonb_array_elements_text(v_signup -> 'limitKeys')),
          array(select jsonb_array_elements_text(v_signup -> 'limitWindows')::int),
          array(select jsonb_array_elements_text(v_signup -> 'limitMaxes')::int),
          v_signup ->> 'confirmKey',
          (v_signup ->> 'confirmWindow')::int,
          (v_signup ->> 'leaseSeconds')::int
        ) as f;
  end loop;
end
$fn$
