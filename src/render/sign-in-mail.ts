import type { Config } from '../config/config.loader.ts';
import { escapeHtml } from '../core/html.text.ts';

export interface SignInMail {
  subject: string;
  html: string;
  text: string;
}

const WORDS = {
  en: {
    subject: (org: string) => `Sign in to the ${org} console`,
    body: 'Use this link to sign in to the editor console. It works once, within 15 minutes.',
    button: 'Sign in',
    ignore: 'If you did not ask for it, ignore this mail: nobody can sign in without the link.',
  },
  'zh-CN': {
    subject: (org: string) => `登录 ${org} 控制台`,
    body: '请用此链接登录编辑控制台。链接 15 分钟内有效，只能使用一次。',
    button: '登录',
    ignore: '如果不是您本人请求的，请忽略此邮件：没有链接，任何人都无法登录。',
  },
} as const;

/**
 * The console's sign-in mail, to an editor, not a reader: one link and two sentences. Plain HTML
 * rather than MJML: it goes to a handful of people, needs no layout, and must render even when the
 * templates a reader's mail uses are broken.
 */
export function renderSignInMail(url: string, lang: string, config: Pick<Config, 'ORG_NAME'>): SignInMail {
  const w = lang === 'zh-CN' ? WORDS['zh-CN'] : WORDS.en;
  const subject = w.subject(config.ORG_NAME);
  const html = `<!doctype html><html lang="${lang === 'zh-CN' ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>
<body style="font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,'PingFang SC','Microsoft YaHei',sans-serif;color:#1d2433;line-height:1.6;padding:24px">
<p>${escapeHtml(w.body)}</p>
<p><a href="${escapeHtml(url)}" style="display:inline-block;padding:10px 18px;background:#3557d6;color:#ffffff;border-radius:8px;text-decoration:none;font-weight:600">${escapeHtml(w.button)}</a></p>
<p style="font-size:14px;color:#4a5368">${escapeHtml(url)}</p>
<p style="font-size:14px;color:#4a5368">${escapeHtml(w.ignore)}</p>
</body></html>`;
  const text = `${w.body}\n\n${url}\n\n${w.ignore}\n`;
  return { subject, html, text };
}
