import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, describe, expect, it } from 'vitest';
import { manyItemsDigest } from './fixtures/digests/generated.ts';
import { BIN, ROOT, runCliInProcess } from './helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 'digestmail-preview-'));
const env = {
  DATA_DIR: join(work, 'data'),
  SECRET_KEY: 'preview-tests-secret-key-0123456789abcdef',
  PUBLIC_URL: 'https://news.example.org',
  MAIL_FROM: 'AI 日报 <news@example.org>',
  ORG_NAME: 'Morning Read',
  POSTAL_ADDRESS: '1 Example Street, Shanghai',
};
const zhDaily = join(ROOT, 'tests/fixtures/digests/zh-daily.md');

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('digestmail issue preview', () => {
  it('a 60-item Chinese digest: both HTML sizes are printed, with a warning above 80 % of 102 KB', async () => {
    const file = join(work, 'sixty.md');
    writeFileSync(file, manyItemsDigest(60));
    const result = await runCliInProcess(['issue', 'preview', file, '--out', join(work, 'sixty')], env);
    expect(result.code).toBe(0);
    const m = /HTML (\d+\.\d) KB decoded, (\d+\.\d) KB as sent \(base64\)$/m.exec(result.stdout);
    expect(m, result.stdout).not.toBeNull();
    const [decoded, sent] = [Number(m![1]), Number(m![2])];
    // base64 costs a third more and its line breaks, not the near-double of quoted-printable CJK.
    expect(sent).toBeLessThanOrEqual(Math.ceil((decoded * 78) / 57) + 0.1);
    expect(decoded).toBeGreaterThan(0.8 * 102);
    expect(result.stderr).toMatch(
      /^warning: the HTML is [\d.]+ KB decoded and [\d.]+ KB as sent, over 80 % of the 102 KB at which Gmail clips a message/m,
    );
  });

  it('writes index.html, index.txt and the full message.eml, and prints their paths', async () => {
    const out = join(work, 'zh');
    const result = await runCliInProcess(
      ['issue', 'preview', zhDaily, '--out', out, '--to-name', '韩梅梅'],
      env,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.slice(0, 3)).toEqual([
      join(out, 'index.html'),
      join(out, 'index.txt'),
      join(out, 'message.eml'),
    ]);
    expect(lines[3]).toMatch(
      /^6 items, zh-CN, HTML \d+\.\d KB decoded, \d+\.\d KB as sent \((base64|quoted-printable)\)$/,
    );

    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain('韩梅梅，你好！');
    expect(html).toContain('<html lang="zh-CN"');
    expect(readFileSync(join(out, 'index.txt'), 'utf8')).toContain('韩梅梅，你好！');

    const eml = readFileSync(join(out, 'message.eml'));
    const parsed = await simpleParser(eml);
    const raw = eml.toString('utf8');
    expect(raw).toMatch(/^List-Unsubscribe: <https:\/\/news\.example\.org\/unsubscribe\/[\w.-]+>\r$/m);
    expect(raw).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
    expect(raw).toMatch(/^List-Id: .* <preview\.example\.org>\r$/m);
    expect(parsed.messageId).toMatch(/@example\.org>$/);
    expect(parsed.subject).toBe('2025.11.12 全球AI新闻速递');
    expect(parsed.html).toContain('韩梅梅，你好！');
  });

  it('a broken digest exits 2 with one line naming the file, the line and the field', async () => {
    const cases: [string, string, RegExp][] = [
      ['no-front-matter.md', '# Hello\n', /:1: front matter: missing/],
      [
        'bad-yaml.md',
        '---\ntitle: "unclosed\ndate: 2025-11-10\n---\n\nx\n',
        /:\d+: front matter: invalid YAML/,
      ],
      ['no-title.md', '---\ndate: 2025-11-10\n---\n\nx\n', /:1: title: missing from the front matter/],
      ['no-date.md', '---\ntitle: T\n---\n\nx\n', /:1: date: missing from the front matter/],
      [
        'bad-date.md',
        '---\ntitle: T\ndate: 10/11/2025\n---\n\nx\n',
        /:3: date: "10\/11\/2025" is not a date/,
      ],
    ];
    for (const [name, content, expected] of cases) {
      const file = join(work, name);
      writeFileSync(file, content);
      const result = await runCliInProcess(['issue', 'preview', file, '--out', join(work, 'broken')], env);
      expect(result.code, name).toBe(2);
      expect(result.stderr.trimEnd().split('\n'), name).toHaveLength(1);
      expect(result.stderr, name).toContain(`digestmail: ${file}`);
      expect(result.stderr, name).toMatch(expected);
    }
    const missing = await runCliInProcess(['issue', 'preview', join(work, 'nope.md')], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`digestmail: ${join(work, 'nope.md')}: no such digest file\n`);
  });

  it('reports links it refused as warnings and still renders', async () => {
    const result = await runCliInProcess(
      ['issue', 'preview', join(ROOT, 'tests/fixtures/digests/injection.md'), '--out', join(work, 'inj')],
      env,
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^warning: .*injection\.md:21: link "javascript:alert\(1\)" dropped/m);
    expect(existsSync(join(work, 'inj', 'index.html'))).toBe(true);
  });

  it('--watch renders again when the file changes, and survives a broken save', async () => {
    const file = join(work, 'watched.md');
    const out = join(work, 'watched');
    writeFileSync(file, '---\ntitle: First title\ndate: 2025-11-10\n---\n\nHello.\n');
    const child = spawn(process.execPath, [BIN, 'issue', 'preview', file, '--out', out, '--watch'], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'test', DEBUG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const output = collect(child);
      await output.waitFor(/watching /);
      expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('<title>First title</title>');

      writeFileSync(file, '---\ntitle: Second title\ndate: 2025-11-10\n---\n\nHello again.\n');
      await until(() =>
        readFileSync(join(out, 'index.html'), 'utf8').includes('<title>Second title</title>'),
      );

      writeFileSync(file, '---\ntitle: Third\n---\n\nNo date.\n');
      await output.waitFor(/date: missing from the front matter/);

      writeFileSync(file, '---\ntitle: Fourth title\ndate: 2025-11-10\n---\n\nFixed.\n');
      await until(() =>
        readFileSync(join(out, 'index.html'), 'utf8').includes('<title>Fourth title</title>'),
      );
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGINT');
      await new Promise((done) => child.once('close', done));
    }
  });
});

function collect(child: ChildProcess) {
  let text = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    text += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    text += d;
  });
  return {
    waitFor: (pattern: RegExp) =>
      until(
        () => pattern.test(text),
        () => text,
      ),
  };
}

/** Waits for a state; the deadline is a ceiling for a hung watcher, not a speed check (a busy machine). */
async function until(check: () => boolean, describe: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met in time ${describe()}`);
}
