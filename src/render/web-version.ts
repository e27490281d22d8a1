import type { IssueTemplate } from './render.types.ts';
import { escapeHtml } from '../core/html.text.ts';
import { fillSlots } from './template.engine.ts';

/**
 * An issue's HTML as the web shows it ("view in browser", the console's preview): the same for
 * every reader. The personal links of a reader's own mail (unsubscribe, preferences) lead to the
 * signup page here, and the greeting is the one for an unknown name.
 */
export function webVersionHtml(template: IssueTemplate, publicUrl: string, issueId: number): string {
  const signup = escapeHtml(`${publicUrl}/subscribe`);
  return fillSlots(template.html, {
    greeting: escapeHtml(template.greeting.anonymous),
    webUrl: escapeHtml(`${publicUrl}/archive/${issueId}`),
    preferencesUrl: signup,
    unsubscribeUrl: signup,
  });
}
