import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDigest } from '../src/digest/digest.parser.ts';
import { compileIssue } from '../src/render/issue.compiler.ts';
import { MessageBuilder } from '../src/render/message.builder.ts';
import { TokenSigner } from '../src/core/tokens.ts';
import { renderTestConfig } from './fixtures/digests/config.ts';
import { ROOT } from './helpers/cli.ts';

/**
 * The example digests as real SpamAssassin 4 scores them (Debian's `spamassassin`, listed in `.ci/packages.txt`
 * installs), with its local rules only (`-L`: no DNS or network tests, so the score is the content's).
 */

const EXAMPLES = join(ROOT, 'examples/digests');
const config = renderTestConfig();
const builder = new MessageBuilder(config, new TokenSigner(config.SECRET_KEY));

interface Verdict {
  score: number;
  rules: string[];
}

/** `spamassassin -L -t` on one message; the score and rule names from its X-Spam-Status header. */
function spamAssassin(raw: Buffer): Promise<Verdict> {
  return new Promise((resolve, reject) => {
    const child = spawn('spamassassin', ['-L', '-t'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString('utf8');
    });
    child.on('error', (error) =>
      reject(new Error(`spamassassin could not run (it is listed in .ci/packages.txt): ${error.message}`)),
    );
    child.on('close', () => {
      const head = out.slice(0, out.search(/\r?\n\r?\n/)).replace(/\r?\n[ \t]+/g, ' ');
      const status =
        /^X-Spam-Status: (?:Yes|No), score=(-?[\d.]+) required=[\d.]+ tests=([\w, ]*?) autolearn=/m.exec(
          head,
        );
      if (!status) {
        reject(new Error(`no X-Spam-Status in spamassassin's output: ${err.slice(0, 500)}`));
        return;
      }
      resolve({ score: Number(status[1]), rules: status[2]!.split(/[, ]+/).filter(Boolean) });
    });
    child.stdin.end(raw);
  });
}

const examples = readdirSync(EXAMPLES).filter((f) => f.endsWith('.md'));

describe('SpamAssassin 4 (local rules) on the example digests', () => {
  it('there are examples to score', () => {
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });

  it.each(examples)(
    '%s: the hidden preheader does not trip HTML_FONT_LOW_CONTRAST, and the score is at most 0.5',
    async (file) => {
      const digest = parseDigest(readFileSync(join(EXAMPLES, file), 'utf8'), file);
      const list = { id: 1, slug: digest.lists?.[0] ?? 'news', name: 'Morning Read' };
      const template = await compileIssue(digest, { config, list });
      // The preheader is really in the message: what is scored is the mail readers get.
      expect(template.preheader.length).toBeGreaterThan(0);
      const message = builder.build(
        { id: 1, template, list },
        { email: 'reader@example.com', name: 'Ann', subscriberId: 1, deliveryId: 1 },
      );
      const verdict = await spamAssassin(message.raw);
      expect(verdict.rules).toContain('HTML_MESSAGE');
      expect(verdict.rules).not.toContain('HTML_FONT_LOW_CONTRAST');
      expect(verdict.score, verdict.rules.join(',')).toBeLessThanOrEqual(0.5);
    },
    120_000,
  );
});
