import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Config } from '../config/config.loader.ts';
import { loadDigest } from '../digest/digest.parser.ts';
import type { Digest } from '../digest/digest.types.ts';
import { TokenSigner } from '../core/tokens.ts';
import { compileIssue } from './issue.compiler.ts';
import { htmlPartSizes, MessageBuilder } from './message.builder.ts';
import { parseMailbox } from './mime.encoding.ts';
import type { IssueTemplate } from './render.types.ts';

export interface PreviewOptions {
  config: Config;
  /** Where the files go; created when missing. */
  outDir?: string;
  /** The sample reader's name in the greeting; none gives the greeting for an unknown name. */
  toName?: string;
}

export interface PreviewResult {
  digest: Digest;
  template: IssueTemplate;
  files: { html: string; text: string; eml: string };
  htmlBytes: number;
  /** The HTML part of message.eml: decoded, and as sent (transfer-encoded), with its encoding. */
  htmlSizes: { decoded: number; sent: number; encoding: string };
}

/** Issue and list ids in a preview: nothing is stored, so there are none yet. */
const PREVIEW_ID = 0;

/** Default output folder for a digest: `out/preview/<file name without .md>`. */
export function defaultPreviewDir(digestPath: string): string {
  return resolve('out', 'preview', basename(digestPath).replace(/\.(md|markdown)$/i, ''));
}

/**
 * Renders a digest exactly as a subscriber would get it — the same compile and the same message
 * builder as a real send, with a sample reader — and writes index.html, index.txt and message.eml.
 */
export async function renderPreview(digestPath: string, options: PreviewOptions): Promise<PreviewResult> {
  const { config } = options;
  const digest = await loadDigest(digestPath, { timeZone: config.TZ });
  const { template, html, text, raw } = await previewMessage(digest, config, {
    ...(options.toName === undefined ? {} : { toName: options.toName }),
  });
  const message = { raw };

  const outDir = resolve(options.outDir ?? defaultPreviewDir(digestPath));
  await mkdir(outDir, { recursive: true });
  const files = {
    html: join(outDir, 'index.html'),
    text: join(outDir, 'index.txt'),
    eml: join(outDir, 'message.eml'),
  };
  await writeFile(files.html, html);
  await writeFile(files.text, text);
  await writeFile(files.eml, message.raw);
  return {
    digest,
    template,
    files,
    htmlBytes: Buffer.byteLength(html),
    htmlSizes: htmlPartSizes(Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8')),
  };
}

export interface PreviewMessage {
  template: IssueTemplate;
  /** The HTML and text a sample reader gets, and the whole MIME message. */
  html: string;
  text: string;
  raw: Buffer | string;
}

/**
 * The message a sample reader of `list` (default: the digest's first list, else the organisation)
 * would get: the same compile and builder as a real send, in memory. The preview command writes it
 * to files; the console shows it in its preview frames.
 */
export async function previewMessage(
  digest: Digest,
  config: Config,
  options: { toName?: string; list?: { slug: string; name: string } } = {},
): Promise<PreviewMessage> {
  const list = options.list ?? {
    slug: digest.lists?.[0] ?? 'preview',
    name: digest.lists?.[0] ?? config.ORG_NAME,
  };
  const template = await compileIssue(digest, { config, list });
  const builder = new MessageBuilder(config, new TokenSigner(config.SECRET_KEY));
  const sample = {
    email: `reader@${parseMailbox(config.MAIL_FROM).domain}`,
    name: options.toName ?? null,
    subscriberId: PREVIEW_ID,
  };
  const issue = { id: PREVIEW_ID, template, list: { id: PREVIEW_ID, ...list } };
  const message = builder.build(issue, sample);
  const { html, text } = builder.personalise(issue, sample);
  return { template, html, text, raw: message.raw };
}
