-- Folds the delta rows of click_counts (migration 420; one per recorded click) into one row per
-- kind, so reading the totals stays a few rows. Called by ClicksRepository.totals (at most once a
-- second per process, from scrapes) and by the hourly retention fold. A second compaction running
-- at the same time returns at once instead of waiting for the first.
create or replace function digestmail_compact_click_counts() returns void
language plpgsql as $fn$
begin
  if not pg_try_advisory_xact_lock(hashtext('digestmail_compact_click_counts')) then
    return;
  end if;
  with gone as (delete from click_counts returning kind, n)
  insert into click_counts (kind, n) select kind, sum(n) from gone group by kind;
end
$fn$
