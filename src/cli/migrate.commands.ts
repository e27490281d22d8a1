import type { Command } from 'commander';
import { migrateDown, migrateToLatest } from '../db/migrator.ts';
import { withContext } from './cli.context.ts';

export function registerMigrateCommands(program: Command): void {
  program
    .command('migrate')
    .description('apply every pending database migration (or undo the last one with --down)')
    .option('--down', 'undo the most recent migration')
    .action(async (options: { down?: boolean }) => {
      await withContext(
        async ({ db, engine }) => {
          const outcome = options.down ? await migrateDown(db) : await migrateToLatest(db);
          const verb = outcome.direction === 'Up' ? 'applied' : 'undid';
          if (outcome.applied.length === 0)
            console.log(`nothing to do (${engine}): the schema is up to date`);
          for (const name of outcome.applied) console.log(`${verb} ${name} (${engine})`);
        },
        { migrate: 'skip' },
      );
    });
}
