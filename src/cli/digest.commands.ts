import type { Command } from 'commander';
import { loadConfig } from '../config/config.loader.ts';
import { invalid, isAppError } from '../core/errors.ts';
import { forTerminal } from '../core/terminal.text.ts';
import { parseDigestDate } from '../digest/digest.date.ts';
import { lintDigest } from '../digest/digest.linter.ts';
import { loadDigest } from '../digest/digest.parser.ts';
import type { Digest, DigestNote } from '../digest/digest.types.ts';
import { compileIssue } from '../render/issue.compiler.ts';
import { MessageBuilder } from '../render/message.builder.ts';
import { parseMailbox } from '../render/mime.encoding.ts';
import { TokenSigner } from '../core/tokens.ts';
import { printJson } from './cli.output.ts';

/** What `digest check --json` prints for each file. */
export interface DigestCheckReport {
  file: string;
  title: string;
  /** The date as written, with its own offset. */
  date: string;
  items: number;
  subject: string;
  preheader: string;
  html_bytes: { decoded: number; sent: number };
  warnings: DigestNote[];
}

/**
 * `digestmail digest check <file.md…>`: what an editor runs before sending. Needs no database and no
 * mail server: it parses, compiles and builds the real message for a sample reader (MJML is loaded,
 * Fastify, the AWS SDK and PGlite are not), then runs the digest linter over it.
 * Exit status: 0 clean, 1 with warnings, 2 when a digest does not parse.
 */
export function registerDigestCommands(program: Command): void {
  const digest = program.command('digest').description('check digests before they are sent');
  digest
    .command('check <file.md...>')
    .description(
      'print the item count, title, date, subject and preheader of each digest as read, and every warning with its line',
    )
    .option(
      '--at <time>',
      'when it will be sent, for the date check (default: its send_at, else now), e.g. 2026-12-01T09:00:00+08:00',
    )
    .option(
      '--json',
      'one object per file: {file, title, date, items, subject, preheader, html_bytes, warnings}',
    )
    .action(async (files: string[], o: { json?: boolean; at?: string }) => {
      const config = loadConfig();
      let at: Date | undefined;
      if (o.at !== undefined) {
        at = parseDigestDate(o.at, config.TZ)?.instant;
        if (!at) {
          throw invalid(
            'digest.at_invalid',
            `--at "${o.at}" is not a date and time such as 2026-12-01T09:00:00+08:00`,
          );
        }
      }
      const reports: (DigestCheckReport | { file: string; error: string })[] = [];
      let status = 0;
      for (const file of files) {
        let parsed: Digest;
        try {
          parsed = await loadDigest(file, { timeZone: config.TZ });
        } catch (error) {
          if (!isAppError(error)) throw error;
          process.stderr.write(`digestmail: ${forTerminal(error.message)}\n`);
          reports.push({ file, error: error.message });
          status = 2;
          continue;
        }
        const measured = await measure(parsed, config);
        const now = at ?? parsed.sendAt ?? new Date();
        const warnings = lintDigest(parsed, { now, htmlBytes: measured.htmlBytes });
        if (warnings.length > 0 && status === 0) status = 1;
        const report: DigestCheckReport = {
          file,
          title: parsed.title,
          date: parsed.dateText,
          items: parsed.items.length,
          subject: measured.subject,
          preheader: measured.preheader,
          html_bytes: measured.htmlBytes,
          warnings,
        };
        reports.push(report);
        if (!o.json) process.stdout.write(humanReport(report, parsed));
      }
      if (o.json) printJson(reports);
      process.exitCode = status;
    });
}

/**
 * Compiles the digest and builds the message a reader would get (the same compile and message builder
 * as a send), and measures its HTML twice: as the HTML itself, and as the bytes of the HTML part in the
 * MIME message, which is what Gmail's 102 KB clip counts and which grows with the transfer encoding the
 * builder picked (quoted-printable, or base64).
 */
async function measure(digest: Digest, config: ReturnType<typeof loadConfig>) {
  const slug = digest.lists?.[0] ?? 'preview';
  const list = { slug, name: digest.lists?.[0] ?? config.ORG_NAME };
  const template = await compileIssue(digest, { config, list });
  const builder = new MessageBuilder(config, new TokenSigner(config.SECRET_KEY));
  const reader = { email: `reader@${parseMailbox(config.MAIL_FROM).domain}`, name: null, subscriberId: 0 };
  const issue = { id: 0, template, list: { id: 0, ...list } };
  const message = builder.build(issue, reader);
  const { html } = builder.personalise(issue, reader);
  return {
    subject: inboxLine(template.subject),
    preheader: inboxLine(template.preheader),
    htmlBytes: { decoded: Buffer.byteLength(html), sent: htmlPartBytes(message.raw) },
  };
}

/** How an inbox shows a header line: runs of whitespace, line breaks included, as one space. */
function inboxLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * Bytes of the text/html part's body as it stands in the raw message (still transfer-encoded).
 * Written by hand because mail parsers hand back the decoded body, which is exactly what this is not:
 * it splits on the boundaries the message declares and returns the body of the part whose own
 * headers say text/html.
 */
export function htmlPartBytes(raw: string | Buffer): number {
  const text = Buffer.isBuffer(raw) ? raw.toString('latin1') : raw;
  const boundaries = [...text.matchAll(/boundary="?([^";\r\n]+)"?/gi)].map((m) => m[1]!);
  for (const boundary of boundaries) {
    const parts = text.split(`\r\n--${boundary}`);
    for (const part of parts.slice(1)) {
      const headerEnd = part.indexOf('\r\n\r\n');
      if (headerEnd < 0) continue;
      const headers = part.slice(0, headerEnd);
      if (!/^content-type:\s*text\/html/im.test(headers)) continue;
      return Buffer.byteLength(part.slice(headerEnd + 4), 'latin1');
    }
  }
  return 0;
}

function humanReport(report: DigestCheckReport, digest: Digest): string {
  const t = forTerminal;
  const lines = [
    t(report.file),
    `  title      ${t(report.title)}`,
    `  date       ${t(report.date)} (the ${digest.day} at ${digest.offset}; ${digest.date.toISOString()})`,
    `  items      ${report.items}`,
    `  subject    ${t(report.subject)}`,
    `  preheader  ${t(report.preheader)}`,
    `  html       ${kb(report.html_bytes.decoded)}, ${kb(report.html_bytes.sent)} as sent (Gmail clips at 102 KB)`,
  ];
  if (report.warnings.length === 0) lines.push('  no warnings');
  for (const w of report.warnings)
    lines.push(`  warning: ${t(report.file)}:${w.line}: ${t(w.message)} [${w.code}]`);
  return `${lines.join('\n')}\n`;
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}
