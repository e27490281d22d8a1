import { Command, CommanderError } from 'commander';
import { isAppError } from '../core/errors.ts';

type Register = (program: Command) => void;

/**
 * Command groups by their first word, each loaded only when it is used: `digestmail subscribers
 * import` then never loads MJML, Fastify or the AWS SDK, which keeps start-up fast and memory flat.
 * Each concern registers its own commands in its `*.commands.ts`; add a line here for a new group.
 */
const COMMAND_GROUPS: Record<string, () => Promise<Register>> = {
  migrate: async () => (await import('./migrate.commands.ts')).registerMigrateCommands,
  list: async () => (await import('./lists.commands.ts')).registerListCommands,
  subscribers: async () => (await import('./subscribers.commands.ts')).registerSubscriberCommands,
  issue: async () => {
    const [{ registerIssueCommands }, { registerPreviewCommand }] = await Promise.all([
      import('./issue.commands.ts'),
      import('./preview.commands.ts'),
    ]);
    return (program) => {
      const issue = program.command('issue').description('create, preview, schedule, send and follow issues');
      registerIssueCommands(issue);
      registerPreviewCommand(issue);
    };
  },
  worker: async () => (await import('./worker.commands.ts')).registerWorkerCommands,
  demo: async () => (await import('./demo.commands.ts')).registerDemoCommand,
  suppressions: async () => (await import('./suppressions.commands.ts')).registerSuppressionCommands,
  bounces: async () => (await import('./bounces.commands.ts')).registerBounceCommands,
  serve: async () => (await import('./serve.commands.ts')).registerServeCommands,
  editors: async () => (await import('./editors.commands.ts')).registerEditorCommands,
  audit: async () => (await import('./editors.commands.ts')).registerAuditCommands,
};

export async function buildProgram(argv: string[] = process.argv): Promise<Command> {
  const program = new Command('digestmail')
    .description('Markdown digests to responsive email, delivered to your subscribers')
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'digestmail: ')) });
  const first = argv.slice(2).find((arg) => !arg.startsWith('-'));
  const wanted = first && first in COMMAND_GROUPS ? [first] : Object.keys(COMMAND_GROUPS);
  for (const name of wanted) (await COMMAND_GROUPS[name]!())(program);
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
    process.stderr.write(`digestmail: ${error.message}\n`);
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
  process.stderr.write(`digestmail: ${message}\n`);
  if (debug) console.error(error);
  return 1;
}

async function main(): Promise<void> {
  try {
    await (await buildProgram()).parseAsync(process.argv);
  } catch (error) {
    process.exitCode = reportError(error);
  }
}

await main();
