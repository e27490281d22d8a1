import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import type { EventOutcome } from '../bounces/bounces.types.ts';
import { BouncesService } from '../bounces/bounces.service.ts';
import { invalid, notFound } from '../core/errors.ts';
import { parseVerpAddress } from '../render/message.builder.ts';
import { withContext } from './cli.context.ts';

export function registerBounceCommands(program: Command): void {
  const bounces = program.command('bounces').description('asynchronous bounce mail (DSN) handling');

  bounces
    .command('ingest <file>')
    .description(
      'read one bounce message (RFC 3464 DSN) from a .eml file or "-" for stdin, e.g. piped from the MTA that receives the bounce address',
    )
    .action(async (file: string) => {
      const raw = await readInput(file);
      await withContext(async ({ config, db }) => {
        const service = new BouncesService(
          db,
          { softBounceLimit: config.SOFT_BOUNCE_LIMIT, softBounceDays: config.SOFT_BOUNCE_DAYS },
          (address) => parseVerpAddress(address, config.SECRET_KEY),
        );
        const outcome = await service.ingestMail(raw);
        if (outcome.result !== 'processed') {
          // Exit 0: piped from an MTA, a failure status would make it bounce the bounce.
          console.log(`ignored: ${outcome.reason}; nothing changed`);
          return;
        }
        for (const e of outcome.events) console.log(describe(e));
      });
    });
}

function describe(outcome: EventOutcome): string {
  const kind = outcome.event.type === 'hard_bounce' ? 'hard bounce' : 'soft bounce';
  const where =
    outcome.deliveryId === null ? '' : ` (delivery ${outcome.deliveryId} of issue ${outcome.issueId})`;
  if (!outcome.recorded)
    return `${kind} for ${outcome.event.email}${where}: already recorded, nothing changed`;
  const suppressed = outcome.suppressed ? `; suppressed (${outcome.suppressed})` : '';
  return `${kind} for ${outcome.event.email}${where}: ${outcome.event.detail}${suppressed}`;
}

async function readInput(file: string): Promise<Buffer> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  try {
    return await fs.readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw notFound('bounces.file_not_found', `no such file: ${file}`);
    if (code === 'EISDIR') throw invalid('bounces.not_a_file', `${file} is a directory`);
    throw invalid('bounces.file_unreadable', `cannot read ${file}: ${(error as Error).message}`);
  }
}
