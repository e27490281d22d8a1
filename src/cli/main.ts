import { Command, CommanderError } from 'commander';
import { isAppError } from '../core/errors.ts';
import { registerBounceCommands } from './bounces.commands.ts';
import { registerListCommands } from './lists.commands.ts';
import { registerMigrateCommands } from './migrate.commands.ts';
import { registerSubscriberCommands } from './subscribers.commands.ts';
import { registerSuppressionCommands } from './suppressions.commands.ts';

/** Each concern registers its own commands; this file only wires them and reports failures. */
export function buildProgram(): Command {
  const program = new Command('digestmail')
    .description('Markdown digests to responsive email, delivered to your subscribers')
    .version('0.1.0')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'digestmail: ')) });
  registerMigrateCommands(program);
  registerListCommands(program);
  registerSubscriberCommands(program);
  registerSuppressionCommands(program);
  registerBounceCommands(program);
  program.exitOverride();
  for (const command of program.commands) exitOverrideDeep(command);
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
  const message =
    err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === '3D000' || err.code === '28P01'
      ? `cannot reach the database: ${err.message} (check DATABASE_URL)`
      : `internal error: ${err.message ?? String(error)}${debug ? '' : ' (set DEBUG=1 for details)'}`;
  process.stderr.write(`digestmail: ${message}\n`);
  if (debug) console.error(error);
  return 1;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    process.exitCode = reportError(error);
  }
}

await main();
