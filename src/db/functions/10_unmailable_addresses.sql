-- Who may receive mail: THE definition. Every query that decides whether someone is mailed (enqueue,
-- claim, signup, opt-in confirmation, import, the "would reach nobody" report) asks this function.
-- An address may not be mailed when it is on the suppression list (bounced, complained, erased,
-- removed by hand) or belongs to a subscriber who is not active (blocklisted). The next rule (a hold,
-- a per-list suppression) is a change to this file only.
--
-- The reason is the suppression's, or the subscriber's status (`blocklisted`): plain columns in both
-- branches, so the planner can probe both indexes per row (a computed column would stop that).
-- It lists addresses, not subscribers, so it also answers for an address that is not a subscriber
-- yet (signup, import). A set-returning SQL function with a single SELECT: PostgreSQL inlines it
-- into the calling query like a view (enqueue's million-row INSERT … SELECT keeps a hash anti join;
-- the blocklisted branch reads the partial index subscribers_not_active_email_idx). Unlike a view it
-- holds no dependency on the tables, so migrations may still drop and alter them.
create or replace function digestmail_unmailable_addresses()
returns table (email text, reason text)
language sql stable
as $fn$
  select x.email, x.reason from suppressions x
  union all
  select s.email, s.status from subscribers s where s.status <> 'active'
$fn$
