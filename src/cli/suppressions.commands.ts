import type { Command } from 'commander';
import { parseSuppressionReason, SuppressionsService } from '../bounces/suppressions.service.ts';
import { forTerminal } from '../core/terminal.text.ts';
import { withContext } from './cli.context.ts';
import { printJson, table } from './cli.output.ts';

export function registerSuppressionCommands(program: Command): void {
  const suppressions = program
    .command('suppressions')
    .description('the global suppression list: addresses that are never mailed, whatever list they are on');

  suppressions
    .command('ls')
    .description('every suppressed address with its reason')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withContext(async ({ db }) => {
        const rows = await new SuppressionsService(db).list();
        if (o.json) {
          printJson(
            rows.map((r) => ({
              email: r.email,
              reason: r.reason,
              note: r.note,
              created_at: r.created_at.toISOString(),
            })),
          );
          return;
        }
        if (rows.length === 0) return console.log('no suppressed addresses');
        console.log(
          table(
            ['email', 'reason', 'since', 'note'],
            // Addresses and notes can come from bounce mail: nothing in them may drive the terminal.
            rows.map((r) => [
              forTerminal(r.email),
              r.reason,
              r.created_at.toISOString().slice(0, 19).replace('T', ' '),
              forTerminal(r.note ?? ''),
            ]),
          ),
        );
      });
    });

  suppressions
    .command('add <email>')
    .description('suppress an address (case-insensitive); it receives nothing more, from any list')
    .option(
      '--reason <reason>',
      'manual, hard_bounce, soft_bounce_limit, complaint, unsubscribed or erased',
      'manual',
    )
    .option('--note <text>', 'why, for the record')
    .action(async (email: string, o: { reason: string; note?: string }) => {
      const reason = parseSuppressionReason(o.reason);
      await withContext(async ({ db }) => {
        const { row, created } = await new SuppressionsService(db).add(email, reason, o.note);
        console.log(
          created
            ? `suppressed ${forTerminal(row.email)} (${row.reason})`
            : `${forTerminal(row.email)} was already suppressed (${row.reason})`,
        );
      });
    });

  suppressions
    .command('remove <email>')
    .description('take an address off the list (it does not re-subscribe anyone)')
    .action(async (email: string) => {
      await withContext(async ({ db }) => {
        const removed = await new SuppressionsService(db).remove(email);
        console.log(
          `removed ${forTerminal(removed.email)} from the suppression list (was ${removed.reason})`,
        );
      });
    });
}
