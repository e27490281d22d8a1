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
    .option('--track-clicks', 'count which stories readers click (readers can turn it off; see README)')
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
          trackClicks?: boolean;
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
            trackClicks: o.trackClicks === true,
            ...(o.description === undefined ? {} : { description: o.description }),
          });
          console.log(`created list ${created.slug} (id ${created.id}, ${created.optIn} opt-in)`);
        });
      },
    );

  list
    .command('edit <slug>')
    .description('change a list; what is not given stays as it is')
    .option('--name <name>', 'the name readers see')
    .option('--description <text>', 'a sentence shown on the signup form')
    .option('--language <tag>', 'en or zh-CN')
    .option('--topics <a,b,c>', 'topics readers may choose from')
    .option('--public', 'offer the list on the public signup form')
    .option('--private', 'do not offer it there')
    .option('--double-opt-in', 'new signups confirm by email first')
    .option('--single-opt-in', 'new signups are confirmed at once')
    .option('--track-clicks', 'count which stories readers click')
    .option('--no-track-clicks', 'stop counting clicks')
    .action(
      async (
        slug: string,
        o: {
          trackClicks?: boolean;
          name?: string;
          description?: string;
          language?: string;
          topics?: string;
          public?: boolean;
          private?: boolean;
          doubleOptIn?: boolean;
          singleOptIn?: boolean;
        },
      ) => {
        if (o.public && o.private)
          throw invalid('cli.conflicting_options', 'choose one of --public and --private');
        if (o.doubleOptIn && o.singleOptIn) {
          throw invalid('cli.conflicting_options', 'choose one of --double-opt-in and --single-opt-in');
        }
        await withContext(async ({ db }) => {
          const updated = await new ListsService(db).update(slug, {
            ...(o.name === undefined ? {} : { name: o.name }),
            ...(o.description === undefined ? {} : { description: o.description }),
            ...(o.language === undefined ? {} : { language: o.language }),
            ...(o.topics === undefined ? {} : { topics: o.topics.split(',') }),
            ...(o.public || o.private ? { isPublic: Boolean(o.public) } : {}),
            ...(o.trackClicks === undefined ? {} : { trackClicks: o.trackClicks }),
            ...(o.doubleOptIn || o.singleOptIn
              ? { optIn: o.singleOptIn ? ('single' as const) : ('double' as const) }
              : {}),
          });
          console.log(`updated list ${updated.slug}`);
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
