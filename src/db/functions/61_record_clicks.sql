-- Many counted links' clicks in one call and one transaction: what ClicksRepository.recordMany
-- sends when clicks arrive faster than one round trip each (ClicksService gathers the clicks that
-- came in while the previous call was running). Each click is judged by digestmail_record_click
-- (60_record_click.sql), the rule's one owner, in the order given; element i of the result is what
-- that call returned for element i (null: nothing recorded).
-- Clicks inside their burst window take a per-delivery advisory lock that is held to the end of the
-- transaction. Two batches taking such locks one by one, in their own orders, could each wait for
-- the other; so every lock the batch needs is taken first, in one order (ascending key), and the
-- per-click call's own lock on the same key is then re-entrant and immediate.
create or replace function digestmail_record_clicks(
  p_deliveries bigint[],
  p_issues integer[],
  p_positions integer[],
  p_kinds text[],
  p_links integer[],
  p_burst_seconds integer
) returns text[]
language plpgsql as $fn$
declare
  v_key integer;
  v_results text[] := '{}';
begin
  for v_key in
    select distinct (c.delivery % 2147483647)::integer
      from unnest(p_deliveries, p_issues, p_links) as c(delivery, issue, links)
      join deliveries d on d.id = c.delivery and d.issue_id = c.issue
     where c.links >= 2 and now() <= coalesce(d.sent_at, now()) + make_interval(secs => p_burst_seconds)
     order by 1
  loop
    perform pg_advisory_xact_lock(6515819, v_key);
  end loop;
  for i in 1 .. coalesce(array_length(p_deliveries, 1), 0) loop
    v_results := v_results || digestmail_record_click(
      p_deliveries[i], p_issues[i], p_positions[i], p_kinds[i], p_links[i], p_burst_seconds
    );
  end loop;
  return v_results;
end
$fn$
