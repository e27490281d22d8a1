-- Who receives a list's issues: subscribers whose subscription to the list is confirmed and whose
-- address may be mailed (10_unmailable_addresses.sql), with the topics they chose (empty means
-- everything the list sends). Inlined into the calling query like 10_unmailable_addresses.
create or replace function digestmail_list_recipients()
returns table (list_id int, subscriber_id bigint, email text, name text, topics text[])
language sql stable
as $fn$
  select sn.list_id, s.id, s.email, s.name, sn.topics
    from subscriptions sn
    join subscribers s on s.id = sn.subscriber_id
   where sn.status = 'confirmed'
     and not exists (select 1 from digestmail_unmailable_addresses() u where u.email = s.email)
$fn$
