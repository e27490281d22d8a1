import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCliInProcess } from './helpers/cli.ts';
import { hugeDigest } from './fixtures/digests/generated.ts';
import { longListDigest } from './fixtures/digests/long-lists.ts';

const work = mkdtempSync(join(tmpdir(), 'digestmail-check-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const env = {
  DATA_DIR: join(work, 'data'),
  SECRET_KEY: 'check-tests-secret-key-0123456789abcdef',
  PUBLIC_URL: 'https://news.example.org',
  MAIL_FROM: 'AI 日报 <news@example.org>',
  ORG_NAME: 'Morning Read',
  POSTAL_ADDRESS: '1 Example Street, Shanghai',
  TZ: 'Asia/Shanghai',
};

interface Report {
  file: string;
  title: string;
  date: string;
  items: number;
  subject: string;
  preheader: string;
  html_bytes: { decoded: number; sent: number };
  warnings: { line: number; code: string; message: string }[];
}

function write(name: string, text: string): string {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
}

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('digestmail digest check', () => {
  it('the example digests are clean: exit 0, with what an inbox shows', async () => {
    const files = ['examples/digests/2026-11-30-ai-daily.md', 'examples/digests/2026-11-30-tech-weekly.md'];
    const result = await runCliInProcess(
      ['digest', 'check', ...files, '--at', '2026-11-30T09:00:00+08:00', '--json'],
      env,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const reports = JSON.parse(result.stdout) as Report[];
    expect(reports.map((r) => r.file)).toEqual(files);
    const daily = reports[0]!;
    expect(daily).toMatchObject({
      title: '2026.11.30 AI 每日简报',
      date: '2026-11-30T08:30:00+08:00',
      subject: '2026.11.30 AI 每日简报',
      warnings: [],
    });
    expect(daily.items).toBe(
      (readFileSync(join(ROOT, files[0]!), 'utf8').match(/^\d+\.\s+\[/gm) ?? []).length,
    );
    expect(daily.preheader).toMatch(/^本周最后一天的动态/);
    // The HTML part as sent is transfer-encoded, so it is larger than the HTML itself.
    expect(daily.html_bytes.sent).toBeGreaterThan(daily.html_bytes.decoded);

    const human = await runCliInProcess(
      ['digest', 'check', files[1]!, '--at', '2026-11-30T09:00:00-05:00'],
      env,
    );
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(
      '  date       2026-11-30T07:00:00-05:00 (the 2026-11-30 at -05:00; 2026-11-30T12:00:00.000Z)',
    );
    expect(human.stdout).toContain('  no warnings');
  });

  it('a 60-item digest in the shared style is checked as 60 items; only its size may be worth a warning', async () => {
    const file = write('sixty.md', longListDigest(60, 'shared', 'zh'));
    const result = await runCliInProcess(
      ['digest', 'check', file, '--at', '2025-11-10T08:00:00+08:00', '--json'],
      env,
    );
    const [report] = JSON.parse(result.stdout) as Report[];
    expect(report!.items).toBe(60);
    expect(report!.warnings.filter((w) => !w.code.startsWith('size.'))).toEqual([]);
  });

  it('each warning exits 1 and names its line and code', async () => {
    const text = `---
title: "Warnings"
date: 2025-11-10T08:00:00+08:00
colour: blue
---

Intro with a [bad link](javascript:alert(1)) and a picture ![](https://img.example.org/a.png).

1.  [Plain http story](http://insecure.example.org/story)

    Summary one.

2.  [Same story again](https://news.example.org/same)

    Summary two, pointing again at [the same](https://news.example.org/same#comments).

3.  A story with no link

    Summary three.

4.  [A story with no summary](https://news.example.org/four)

3.  [Numbered three again](https://news.example.org/five)

    Summary five.

        indented too deep

## Later

6.  [More news after a heading](https://news.example.org/six)
7.  [And more](https://news.example.org/seven)
`;
    const file = write('warnings.md', text);
    const result = await runCliInProcess(
      ['digest', 'check', file, '--at', '2025-11-10T09:00:00+08:00', '--json'],
      env,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
    const [report] = JSON.parse(result.stdout) as Report[];
    const found = report!.warnings.map((w) => [w.code, w.line]);
    expect(found).toEqual([
      ['front_matter.unknown_field', lineOf(text, 'colour: blue')],
      ['link.dropped', lineOf(text, 'javascript:alert')],
      ['image.no_alt', lineOf(text, 'img.example.org')],
      ['link.not_https', lineOf(text, 'http://insecure')],
      ['link.duplicate', lineOf(text, 'same#comments')],
      ['item.no_link', lineOf(text, 'A story with no link')],
      ['item.no_summary', lineOf(text, 'A story with no summary')],
      ['items.numbering', lineOf(text, 'Numbered three again')],
      ['items.code_block', lineOf(text, 'indented too deep')],
      ['items.second_list', lineOf(text, 'More news after a heading')],
    ]);
    expect(report!.warnings.find((w) => w.code === 'link.duplicate')!.message).toContain(
      `already appears on line ${lineOf(text, 'Same story again')}`,
    );
    expect(report!.warnings.find((w) => w.code === 'items.second_list')!.message).toContain(
      `heading on line ${lineOf(text, '## Later')}`,
    );

    // The same, as an editor reads it: one line per warning with file, line and code.
    const human = await runCliInProcess(['digest', 'check', file, '--at', '2025-11-10T09:00:00+08:00'], env);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain(
      `  warning: ${file}:${lineOf(text, 'http://insecure')}: link "http://insecure.example.org/story" is not https (mail clients and readers warn about plain http) [link.not_https]`,
    );
  });

  it('a date more than a day from the send time is a warning on the date line', async () => {
    const text =
      '---\ntitle: T\ndate: 2025-11-10T08:00:00+08:00\n---\n\n1. [A](https://e.org/a)\n\n   Summary.\n';
    const file = write('dated.md', text);
    const result = await runCliInProcess(
      ['digest', 'check', file, '--at', '2025-11-12T09:00:00+08:00', '--json'],
      env,
    );
    expect(result.code).toBe(1);
    const [report] = JSON.parse(result.stdout) as Report[];
    expect(report!.warnings).toEqual([
      { line: 3, code: 'date.far', message: 'date 2025-11-10T08:00:00+08:00 is 2.0 days ago' },
    ]);
    // Without --at the clock is used: a digest dated a year ago is far from now.
    const now = await runCliInProcess(['digest', 'check', file, '--json'], env);
    expect((JSON.parse(now.stdout) as Report[])[0]!.warnings.map((w) => w.code)).toEqual(['date.far']);
  });

  it('HTML near Gmail’s clip is a warning, decoded and as sent', async () => {
    const file = write('huge.md', hugeDigest(60_000));
    const result = await runCliInProcess(
      ['digest', 'check', file, '--at', '2025-11-27T08:00:00Z', '--json'],
      env,
    );
    expect(result.code).toBe(1);
    const [report] = JSON.parse(result.stdout) as Report[];
    expect(report!.html_bytes.decoded).toBeGreaterThan(0.8 * 102 * 1024);
    expect(report!.warnings.filter((w) => w.code.startsWith('size.')).map((w) => [w.code, w.line])).toEqual([
      ['size.html', 1],
      ['size.html_sent', 1],
    ]);
    // Measured on the real message: the part as sent is at least as large as the HTML in it.
    expect(report!.html_bytes.sent).toBeGreaterThanOrEqual(report!.html_bytes.decoded);
  });

  it('a broken digest exits 2 with one line naming the file, the line and the field', async () => {
    const good = write(
      'good.md',
      '---\ntitle: T\ndate: 2025-11-10\n---\n\n1. [A](https://e.org/a)\n\n   Summary.\n',
    );
    const broken = write('broken.md', '---\ntitle: T\ndate: next tuesday\n---\n\nx\n');
    const result = await runCliInProcess(
      ['digest', 'check', good, broken, '--at', '2025-11-10T09:00:00+08:00'],
      env,
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      `digestmail: ${broken}:3: date: "next tuesday" is not a date (expected e.g. 2025-11-10 or 2025-11-10T07:00:00+08:00)`,
    ]);
    // The good file was still checked.
    expect(result.stdout).toContain(good);
    const missing = await runCliInProcess(['digest', 'check', join(work, 'nope.md')], env);
    expect(missing.code).toBe(2);
  });

  it('runs as a real process without loading Fastify, the AWS SDK or PGlite, and exits with its status', async () => {
    const record = join(work, 'modules.txt');
    const file = write(
      'proc.md',
      '---\ntitle: T\ndate: 2025-11-10\n---\n\n1. [A](http://e.org/a)\n\n   Summary.\n',
    );
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          join(ROOT, 'tests/helpers/module-recorder.mjs'),
          BIN,
          'digest',
          'check',
          file,
          '--at',
          '2025-11-10',
        ],
        {
          cwd: ROOT,
          env: { ...process.env, ...env, NODE_ENV: 'test', MODULE_RECORD: record },
          stdio: 'ignore',
        },
      );
      child.on('error', reject);
      child.on('close', resolve);
    });
    expect(code).toBe(1);
    const loaded = readFileSync(record, 'utf8');
    expect(loaded).toMatch(/node_modules\/mjml/);
    expect(loaded).not.toMatch(/node_modules\/(fastify|@aws-sdk|@electric-sql\/pglite)\//);
    const plain = await runCliInProcess(['digest', 'check', file, '--at', '2025-11-10', '--json'], env);
    expect(plain.code).toBe(1);
    expect(JSON.parse(plain.stdout)[0].warnings[0].code).toBe('link.not_https');
  });
});
