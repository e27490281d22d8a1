-- A counted link's click, recorded and judged (one indexed insert; the rule's one owner). Called
-- for each click of a batch by digestmail_record_clicks (61_record_clicks.sql), which
-- ClicksRepository.recordMany calls; the rule is the README's ("Click counts") and
-- src/clicks/clicks.scanner.ts's:
--   - nothing for a delivery that is not of this issue (a token of a deleted delivery counts nothing);
--   - at most one row per (delivery, link): the first click, with the kind the request looked like;
--   - when this click comes within p_burst_seconds of the delivery, and with it every link of the
--     message (p_links, at least two) has been opened within that window, the burst was a scanner's:
--     every click of it becomes 'scanner', whichever click completes it.
-- Scanners open a message's links in parallel. Clicks of one delivery inside the window take turns
-- (a transaction-scoped advisory lock on the delivery, taken before the insert), and each statement
-- here reads what committed before it: the click that completes the set sees all the others.
-- Clicks after the window (almost all of them) take no lock and do no count.
-- Each recorded click, and each click a burst re-marks, is counted in click_counts (migration 420),
-- the totals /metrics reads.
-- Returns the kind recorded ('human', 'scanner', or 'burst' when this click completed a burst), or
-- null when nothing was recorded.
create or replace function digestmail_record_click(
  p_delivery bigint,
  p_issue integer,
  p_position integer,
  p_kind text,
  p_links integer,
  p_burst_seconds integer
) returns text
language plpgsql as $fn$
declare
  v_window_end timestamptz;
  v_early integer;
  v_moved integer;
begin
  select coalesce(d.sent_at, now()) + make_interval(secs => p_burst_seconds)
    into v_window_end
    from deliveries d
   where d.id = p_delivery and d.issue_id = p_issue;
  if not found then
    return null;
  end if;
  if p_links >= 2 and now() <= v_window_end then
    -- 0x636c6b ('clk') keeps these keys apart from the application's other advisory locks.
    perform pg_advisory_xact_lock(6515819, (p_delivery % 2147483647)::integer);
  end if;
  insert into clicks (delivery_id, issue_id, position, kind)
  values (p_delivery, p_issue, p_position, p_kind)
  on conflict (delivery_id, position) do nothing;
  if not found then
    return null;
  end if;
  insert into click_counts (kind, n) values (p_kind, 1);
  if p_links < 2 or now() > v_window_end then
    return p_kind;
  end if;
  select count(*) into v_early
    from clicks c
   where c.delivery_id = p_delivery and c.clicked_at <= v_window_end;
  if v_early < p_links then
    return p_kind;
  end if;
  update clicks c set kind = 'scanner'
   where c.delivery_id = p_delivery and c.kind = 'human' and c.clicked_at <= v_window_end;
  get diagnostics v_moved = row_count;
  if v_moved > 0 then
    insert into click_counts (kind, n) values ('human', -v_moved), ('scanner', v_moved);
  end if;
  return 'burst';
end
$fn$
