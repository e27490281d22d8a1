import { readFileSync } from 'node:fs';
import { escapeHtml } from '../core/html.text.ts';
import { join } from 'node:path';
import { AppError } from '../core/errors.ts';
import { PACKAGE_ROOT } from '../core/package-root.ts';
import type { SlotName, SlottedText } from './render.types.ts';

/**
 * A deliberately small template language for the MJML files in `emails/`, so that templates stay
 * plain MJML an editor can open in any MJML tool:
 *
 *   {{name}}            the value, HTML-escaped (the default, so forgetting is safe)
 *   {{{name}}}          the value as is — only for HTML this code made itself (rendered Markdown)
 *   {{#name}}…{{/name}} the block when the value is truthy and not empty
 *   {{^name}}…{{/name}} the block when it is not
 *   {{> partial}}       `emails/partials/<partial>.mjml`
 *
 * An unknown name is an error, not an empty string: a typo in a template must fail loudly.
 */

export const EMAILS_DIR = `${join(PACKAGE_ROOT, 'emails')}/`;

export type TemplateValues = Record<string, string | number | boolean | undefined | null>;

const fileCache = new Map<string, string>();

export function readTemplate(name: string): string {
  let text = fileCache.get(name);
  if (text === undefined) {
    try {
      text = readFileSync(`${EMAILS_DIR}${name}.mjml`, 'utf8');
    } catch (error) {
      throw new AppError(
        'render.template_missing',
        `template emails/${name}.mjml cannot be read: ${(error as Error).message}`,
        {
          status: 500,
          exitCode: 1,
        },
      );
    }
    fileCache.set(name, text);
  }
  return text;
}

export function fillTemplate(name: string, values: TemplateValues): string {
  let text = expandPartials(name, readTemplate(name), 0);
  const has = (key: string) => {
    if (!(key in values)) throw templateError(name, `unknown value "${key}"`);
    const v = values[key];
    return v !== undefined && v !== null && v !== false && v !== '' && v !== 0;
  };
  // Sections, innermost first, until none are left.
  const section = /\{\{([#^])\s*([\w-]+)\s*\}\}((?:(?!\{\{[#^])[\s\S])*?)\{\{\/\s*\2\s*\}\}/;
  for (let m = section.exec(text); m; m = section.exec(text)) {
    const [whole, kind, key, body] = m;
    const show = kind === '#' ? has(key!) : !has(key!);
    text = text.slice(0, m.index) + (show ? body : '') + text.slice(m.index + whole.length);
  }
  const variable = /\{\{\{\s*([\w-]+)\s*\}\}\}|\{\{\s*([\w-]+)\s*\}\}/g;
  if (/\{\{|\}\}/.test(text.replace(variable, ''))) {
    throw templateError(name, 'a {{ }} tag is not closed or not understood');
  }
  // One pass, so a value that happens to contain "{{" is never read as a tag.
  return text.replace(variable, (_m, raw: string | undefined, escaped: string | undefined) => {
    const key = (raw ?? escaped)!;
    has(key);
    const value = String(values[key] ?? '');
    return raw !== undefined ? value : escapeHtml(value);
  });
}

function expandPartials(name: string, text: string, depth: number): string {
  if (depth > 8) throw templateError(name, 'partials nested too deeply');
  return text.replace(/\{\{>\s*([\w-]+)\s*\}\}/g, (_m, partial: string) =>
    expandPartials(`partials/${partial}`, readTemplate(`partials/${partial}`), depth + 1),
  );
}

function templateError(name: string, reason: string): AppError {
  return new AppError('render.template_invalid', `template emails/${name}.mjml: ${reason}`, {
    status: 500,
    exitCode: 1,
  });
}

/** Fills a SlottedText; used by the message builder's slow path and by previews and tests. */
/** What fills the slots; `clickBase` only exists in the HTML for counted clicks. */
export type SlotValues = Record<Exclude<SlotName, 'clickBase'>, string> & { clickBase?: string };

export function fillSlots<S extends string>(
  text: SlottedText<S>,
  values: Partial<Record<S, string>>,
): string {
  let out = text.parts[0]!;
  for (let i = 0; i < text.slots.length; i++) out += (values[text.slots[i]!] ?? '') + text.parts[i + 1]!;
  return out;
}
