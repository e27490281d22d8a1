import { Command, CommanderError } from 'commander';
import { isAppError } from '../core/errors.ts';
import { maskCredentials } from '../core/secrets.text.ts';
import { forTerminal } from '../core/terminal.text.ts';

type Register = (program: Command) => void;

interface CommandGroup {
  /** The line `digestmail --help` shows; the same text the group gives its command when loaded (a test checks). */
  summary: string;
  load: () => Promise<Register>;
}

/**
 * Command groups by their first word, each loaded only when it is used: `digestmail subscribers
 * import` then never loads MJML, Fastify or the AWS SDK, and `digestmail --help` loads none of them
 * (it lists the groups from their summaries here), which keeps start-up fast and memory flat.
 * Each concern registers its own commands in its `*.commands.ts`; add a line here for a new group.
 */
const COMMAND_GROUPS: Record<string, CommandGroup> = {
  migrate: {
    summary: 'apply every pending database migration (or undo the last one with --down)',
    load: async () => (await import('./migrate.commands.ts')).registerMigrateCommands,
  },
  list: {
    summary: 'create and show subscriber lists',
    load: async () => (await import('./lists.commands.ts')).registerListCommands,
  },
  subscribers: {
    summary: 'add, import, export and erase subscribers',
    load: async () => (await import('./subscribers.commands.ts')).registerSubscriberCommands,
  },
  issue: {
    summary: 'create, preview, schedule, send and follow issues',
    load: async () => {
      const [{ registerIssueCommands }, { registerPreviewCommand }] = await Promise.all([
        import('./issue.commands.ts'),
        import('./preview.commands.ts'),
      ]);
      return (program) => {
        const issue = program.command('issue').description(COMMAND_GROUPS.issue!.summary);
        registerIssueCommands(issue);
        registerPreviewCommand(issue);
      };
    },
  },
  digest: {
    summary: 'check digests before they are sent',
    load: async () => (await import('./digest.commands.ts')).registerDigestCommands,
  },
  worker: {
    summary: 'send queued deliveries and start scheduled issues until stopped (SIGINT/SIGTERM)',
    load: async () => (await import('./worker.commands.ts')).registerWorkerCommands,
  },
  demo: {
    summary: 'run a whole send on the embedded database, writing .eml files instead of mailing anyone',
    load: async () => (await import('./demo.commands.ts')).registerDemoCommand,
  },
  suppressions: {
    summary: 'the global suppression list: addresses that are never mailed, whatever list they are on',
    load: async () => (await import('./suppressions.commands.ts')).registerSuppressionCommands,
  },
  bounces: {
    summary: 'asynchronous bounce mail (DSN) handling',
    load: async () => (await import('./bounces.commands.ts')).registerBounceCommands,
  },
  serve: {
    summary: 'run the web pages (signup, confirm, unsubscribe, preferences) and the mail senders',
    load: async () => (await import('./serve.commands.ts')).registerServeCommands,
  },
  editors: {
    summary: 'who may use the editor console',
    load: async () => (await import('./editors.commands.ts')).registerEditorCommands,
  },
  audit: {
    summary: 'what editors changed, and when',
    load: async () => (await import('./editors.commands.ts')).registerAuditCommands,
  },
};

export const COMMAND_GROUP_NAMES = Object.keys(COMMAND_GROUPS);

/**
 * The program for one command line. Only the group named by the first word (or by `help <group>`) is
 * loaded; without one, every group is listed by name and summary and none is loaded.
 * `loadAll` loads every group (the test that keeps the summaries true uses it).
 */
export async function buildProgram(
  argv: string[] = process.argv,
  options: { loadAll?: boolean } = {},
): Promise<Command> {
  const program = new Command('digestmail')
    .description('Markdown digests to responsive email, delivered to your subscribers')
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'digestmail: ')) });
  const words = argv.slice(2).filter((arg) => !arg.startsWith('-'));
  const first = words[0] === 'help' ? words[1] : words[0];
  if (options.loadAll) {
    for (const group of Object.values(COMMAND_GROUPS)) (await group.load())(program);
  } else if (first && first in COMMAND_GROUPS) {
    (await COMMAND_GROUPS[first]!.load())(program);
  } else {
    for (const [name, group] of Object.entries(COMMAND_GROUPS))
      program.command(name).description(group.summary);
  }
  exitOverrideDeep(program);
  return program;
}

function exitOverrideDeep(command: Command): void {
  command.exitOverride();
  for (const child of command.commands) exitOverrideDeep(child);
}

/**
 * One line on stderr for anything a user got wrong (exit 2), one line and exit 1 for failures of
 * ours or of a server we depend on; a stack only with DEBUG set.
 */
export function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    if (
      error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.exitCode === 0
    )
      return 0;
    return 2;
  }
  const debug = /^(1|true|yes|on)$/i.test(process.env.DEBUG ?? '');
  if (isAppError(error)) {
    process.stderr.write(`digestmail: ${forStderr(error.message)}\n`);
    if (debug && error.cause) console.error(error.cause);
    return error.exitCode;
  }
  const err = error as NodeJS.ErrnoException;
  if ((err.code === 'EADDRINUSE' || err.code === 'EACCES') && err.syscall === 'listen') {
    // A setting the user chose (PORT, HOST), not a fault of ours.
    const where = `${(err as { address?: string }).address ?? ''}:${(err as { port?: number }).port ?? ''}`;
    const why =
      err.code === 'EADDRINUSE' ? 'something else is listening there' : 'this user may not use that port';
    process.stderr.write(`digestmail: cannot listen on ${where}: ${why} (set PORT or HOST)\n`);
    return 2;
  }
  const message =
    err.code === 'ECONNREFUSED' ||
    err.code === 'ENOTFOUND' ||
    err.code === '3D000' ||
    err.code === '28P01' ||
    /^Connection terminated/.test(err.message ?? '')
      ? `cannot reach the database: ${err.message} (check DATABASE_URL)`
      : `internal error: ${err.message ?? String(error)}${debug ? '' : ' (set DEBUG=1 for details)'}`;
  process.stderr.write(`digestmail: ${forStderr(message)}\n`);
  if (debug) console.error(error);
  return 1;
}

/**
 * Messages may quote what a user or a remote server gave (an address from a CSV, a server's reply,
 * a connection string): passwords masked and control characters made inert, line by line.
 */
function forStderr(message: string): string {
  return maskCredentials(message).split(/\r?\n/).map(forTerminal).join('\n');
}

/**
 * Runs one `digestmail` command line (argv as in process.argv: node, script, args…) and returns the
 * exit status. bin/digestmail.js calls it with the real argv; tests call it in-process.
 */
export async function main(argv: string[] = process.argv): Promise<number> {
  // A command may set an exit status of its own (issue send --wait: 1 when anything failed); it is
  // returned, and the process's own status is left as it was (tests run many commands in one process).
  const previous = process.exitCode;
  process.exitCode = undefined;
  try {
    await (await buildProgram(argv)).parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    return reportError(error);
  } finally {
    process.exitCode = previous;
  }
}
