import type { Command } from 'commander';
import { invalid } from '../core/errors.ts';
import { parseSubscriptionStatus, SubscribersService } from '../subscriptions/subscribers.service.ts';
import { forTerminal } from '../core/terminal.text.ts';
import { withContext } from './cli.context.ts';

export function registerSubscriberCommands(program: Command): void {
  const subscribers = program.command('subscribers').description('add, import, export and erase subscribers');

  subscribers
    .command('add <email>')
    .description('add one address to a list')
    .requiredOption('--list <slug>', 'the list')
    .option('--name <name>', 'the reader’s name')
    .option('--status <status>', 'confirmed or pending', 'confirmed')
    .action(async (email: string, o: { list: string; name?: string; status: string }) => {
      const status = parseSubscriptionStatus(o.status, ['confirmed', 'pending']);
      await withContext(async ({ db }) => {
        const added = await new SubscribersService(db).add({
          email,
          listSlug: o.list,
          status,
          ...(o.name === undefined ? {} : { name: o.name }),
        });
        console.log(
          `${added.created ? 'added' : 'updated'} ${added.email} to ${o.list} (${added.subscriptionStatus})`,
        );
      });
    });

  subscribers
    .command('import <file.csv>')
    .description('import a CSV with a header row (email required; name optional), streamed')
    .requiredOption('--list <slug>', 'the list')
    .option('--status <status>', 'confirmed or pending', 'confirmed')
    .option('--quiet', 'print only the totals')
    .action(async (file: string, o: { list: string; status: string; quiet?: boolean }) => {
      const status = parseSubscriptionStatus(o.status, ['confirmed', 'pending']) as 'confirmed' | 'pending';
      await withContext(async ({ db }) => {
        const report = await new SubscribersService(db).import(file, o.list, status, {
          onInvalid: o.quiet
            ? undefined
            : ({ line, reason }) => process.stderr.write(`line ${line}: ${forTerminal(reason)}\n`),
        });
        console.log(
          `imported ${report.imported}, updated ${report.updated}, skipped ${report.skipped}, invalid ${report.invalid} (${report.rows} rows)`,
        );
      });
    });

  subscribers
    .command('export')
    .description('write a list’s subscribers as CSV to stdout (email, name, status, subscribed_at)')
    .requiredOption('--list <slug>', 'the list')
    .option('--status <status>', 'only pending, confirmed or unsubscribed')
    .action(async (o: { list: string; status?: string }) => {
      const status = o.status === undefined ? undefined : parseSubscriptionStatus(o.status);
      await withContext(async ({ db }) => {
        await new SubscribersService(db).export(o.list, status, process.stdout);
      });
    });

  subscribers
    .command('remove <email>')
    .description('erase a person: their data goes, their address stays suppressed so it is never mailed')
    .option('--yes', 'do not ask (required when not on a terminal)')
    .action(async (email: string, o: { yes?: boolean }) => {
      if (!o.yes && !process.stdin.isTTY) {
        throw invalid(
          'cli.confirmation_required',
          'erasing a subscriber cannot be undone: add --yes to confirm',
        );
      }
      if (!o.yes) {
        const { createInterface } = await import('node:readline/promises');
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        const answer = await rl.question(`Erase ${email} for good? [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) return console.log('nothing changed');
      }
      await withContext(async ({ db }) => {
        const found = await new SubscribersService(db).remove(email);
        console.log(
          found
            ? `erased ${email}; the address stays suppressed`
            : `no subscriber ${email}; the address is suppressed`,
        );
      });
    });
}
