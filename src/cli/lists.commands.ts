import type { Command } from 'commander';
import { invalid } from '../core/errors.ts';
import { ListsService } from '../subscriptions/lists.service.ts';
import { withContext } from './cli.context.ts';
import { printJson, table } from './cli.output.ts';

export function registerListCommands(program: Command): void {
  const list = program.command('list').description('create and show subscriber lists');

  list
    .command('create <slug>')
    .description('create a list (double opt-in unless --single-opt-in)')
    .requiredOption('--name <name>', 'the name readers see')
    .option('--double-opt-in', 'new signups confirm by email first (the default)')
    .option('--single-opt-in', 'new signups are confirmed at once')
    .option('--language <tag>', 'language of system mail and pages for this list: en or zh-CN', 'en')
    .option('--topics <a,b,c>', 'topics readers may choose from (digest categories)')
    .option('--description <text>', 'a sentence shown on the signup form')
    .option('--private', 'do not offer this list on the public signup form')
    .action(
      async (
        slug: string,
        o: {
          name: string;
          doubleOptIn?: boolean;
          singleOptIn?: boolean;
          language: string;
          topics?: string;
          description?: string;
          private?: boolean;
        },
      ) => {
        if (o.doubleOptIn && o.singleOptIn) {
          throw invalid('cli.conflicting_options', 'choose one of --double-opt-in and --single-opt-in');
        }
        await withContext(async ({ db }) => {
          const created = await new ListsService(db).create({
            slug,
            name: o.name,
            optIn: o.singleOptIn ? 'single' : 'double',
            language: o.language,
            topics: o.topics?.split(',') ?? [],
            isPublic: !o.private,
            ...(o.description === undefined ? {} : { description: o.description }),
          });
          console.log(`created list ${created.slug} (id ${created.id}, ${created.optIn} opt-in)`);
        });
      },
    );

  list
    .command('ls')
    .description('show every list with its subscriber counts')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withContext(async ({ db }) => {
        const lists = await new ListsService(db).all();
        if (o.json) return printJson(lists);
        if (lists.length === 0)
          return console.log('no lists yet: digestmail list create <slug> --name <name>');
        console.log(
          table(
            ['slug', 'name', 'opt-in', 'lang', 'confirmed', 'pending', 'unsubscribed', 'topics'],
            lists.map((l) => [
              l.slug,
              l.name,
              l.optIn,
              l.language,
              l.counts.confirmed,
              l.counts.pending,
              l.counts.unsubscribed,
              l.topics.join(','),
            ]),
          ),
        );
      });
    });
}
