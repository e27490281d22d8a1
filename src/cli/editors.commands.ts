import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { type Actor, EditorsService, parseRole } from '../editors/editors.service.ts';
import { withContext } from './cli.context.ts';
import { printJson, table } from './cli.output.ts';

/** Someone at the server's shell: the audit log names them by their login. */
export function cliActor(): Actor {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid): keep $USER.
  }
  return { cli: user };
}

export function registerEditorCommands(program: Command): void {
  const editors = program.command('editors').description('who may use the editor console');

  editors
    .command('add <email>')
    .description('let someone into the console (role editor unless --role admin)')
    .option('--name <name>', 'their name')
    .option('--role <role>', 'admin (also manages editors) or editor', 'editor')
    .action(async (email: string, o: { name?: string; role: string }) => {
      const role = parseRole(o.role);
      await withContext(async ({ db }) => {
        const editor = await new EditorsService(db).add(
          { email, role, ...(o.name === undefined ? {} : { name: o.name }) },
          cliActor(),
        );
        console.log(
          `added ${editor.email} (${editor.role}); sign in with: digestmail editors link ${editor.email}`,
        );
      });
    });

  editors
    .command('ls')
    .description('every editor with their role')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withContext(async ({ db }) => {
        const all = await new EditorsService(db).all();
        if (o.json) return printJson(all);
        if (all.length === 0)
          return console.log('no editors yet: digestmail editors add <email> --role admin');
        console.log(
          table(
            ['email', 'name', 'role', 'added'],
            all.map((e) => [e.email, e.name ?? '', e.role, e.createdAt.toISOString()]),
          ),
        );
      });
    });

  editors
    .command('remove <email>')
    .description('take someone out of the console; their sessions end at once')
    .action(async (email: string) => {
      await withContext(async ({ db }) => {
        const removed = await new EditorsService(db).remove(email, cliActor());
        console.log(`removed ${removed.email}; their sessions have ended`);
      });
    });

  editors
    .command('link <email>')
    .description('print a one-time sign-in URL for an editor (single use, valid 15 minutes)')
    .action(async (email: string) => {
      await withContext(async ({ config, db }) => {
        const url = await new EditorsService(db).signInLinkFor(email, config.PUBLIC_URL, cliActor());
        // Alone on stdout, so `digestmail editors link a@x.org | xargs open` works.
        process.stdout.write(`${url}\n`);
      });
    });
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('what editors changed, and when');
  audit
    .command('ls')
    .description('the most recent changes, newest first')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'how many rows', '100')
    .action(async (o: { json?: boolean; limit: string }) => {
      const limit = Number.parseInt(o.limit, 10);
      await withContext(async ({ db }) => {
        const rows = await new EditorsService(db).auditLog(Number.isFinite(limit) ? limit : 100);
        if (o.json) return printJson(rows);
        if (rows.length === 0) return console.log('nothing recorded yet');
        console.log(
          table(
            ['when', 'who', 'what', 'object'],
            rows.map((r) => [
              r.at.toISOString(),
              r.actor,
              r.action,
              `${r.objectType} ${r.objectId ?? ''}`.trim(),
            ]),
          ),
        );
      });
    });
}
