import mjml2html from 'mjml';
import { AppError } from '../core/errors.ts';

/**
 * MJML → HTML with strict validation: a template mistake (unknown tag, bad attribute) throws instead
 * of producing quietly broken mail. No web fonts are linked (the CJK font stack relies on the fonts
 * every reader already has). Indentation is squeezed out afterwards — it is a large share of MJML's
 * output and counts against Gmail's 102 KB clipping limit — except inside `<pre>`, where it is content.
 */
export async function compileMjml(mjml: string, templateName: string): Promise<string> {
  let html: string;
  try {
    ({ html } = await mjml2html(mjml, { validationLevel: 'strict', fonts: {}, keepComments: false }));
  } catch (error) {
    const detail = (error as Error).message
      .replace(/\s+/g, ' ')
      .replace(/^ValidationError: /, '')
      .trim();
    throw new AppError('render.template_invalid', `template emails/${templateName}.mjml: ${detail}`, {
      status: 500,
      exitCode: 1,
      cause: error,
    });
  }
  return squeezeWhitespace(html);
}

export function squeezeWhitespace(html: string): string {
  return html
    .split(/(<pre[\s\S]*?<\/pre>)/)
    .map((chunk, i) => (i % 2 === 1 ? chunk : chunk.replace(/\n[ \t]*(?:\n[ \t]*)*/g, '\n')))
    .join('')
    .trim();
}
