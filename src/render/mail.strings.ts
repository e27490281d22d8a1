/**
 * Every word the templates say on their own (footer, greetings, system mail), in English and
 * Simplified Chinese. The digest's language picks the set; a language without its own set gets
 * English words but keeps its own `lang` and direction.
 */

export interface MailStrings {
  lang: 'en' | 'zh-CN';
  viewInBrowser: string;
  preferences: string;
  unsubscribe: string;
  /** "You are receiving … because you subscribed to {list}." */
  receivingBecause: (list: string) => string;
  /** The footer's one sentence when the list counts clicks, and the link text to turn it off. */
  clicksCounted: string;
  clicksOff: string;
  greeting: { before: string; after: string; anonymous: string };
  commentaryHeading: string;
  itemsHeading: (count: number) => string;
  formatDay: (day: string) => string;
  separator: string;
  /** Shown under a button, before the same URL written out. */
  buttonFallback: string;
  listJoin: (names: string[]) => string;
  confirm: {
    subject: (lists: string) => string;
    heading: string;
    body: (lists: string) => string;
    button: string;
    ignore: string;
  };
  welcome: {
    subject: (lists: string) => string;
    heading: string;
    body: (lists: string) => string;
    manage: string;
  };
  goodbye: {
    subject: (lists: string) => string;
    heading: string;
    body: (lists: string) => string;
    mistake: string;
    resubscribe: string;
  };
}

const dayDate = (day: string) => new Date(`${day}T12:00:00Z`);

const en: MailStrings = {
  lang: 'en',
  viewInBrowser: 'View in browser',
  preferences: 'Preferences',
  unsubscribe: 'Unsubscribe',
  receivingBecause: (list) => `You are receiving this because you subscribed to ${list}.`,
  clicksCounted: 'This list counts which stories are clicked (once per story, nothing else about you).',
  clicksOff: 'Turn it off',
  greeting: { before: 'Hi ', after: ',', anonymous: 'Hi there,' },
  commentaryHeading: "Editor's notes",
  itemsHeading: (count) => (count === 1 ? 'The story today' : `${count} stories today`),
  formatDay: (day) =>
    new Intl.DateTimeFormat('en-GB', {
      weekday: 'long',
      day: 'numeric',
      month: 'long',
      year: 'numeric',
      timeZone: 'UTC',
    }).format(dayDate(day)),
  separator: ' · ',
  buttonFallback: 'If the button does not work, open this link:',
  listJoin: (names) =>
    names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`,
  confirm: {
    subject: (lists) => `Please confirm your subscription to ${lists}`,
    heading: 'One more step',
    body: (lists) =>
      `Please confirm that you want to receive ${lists}. Until you do, we will not send you anything else.`,
    button: 'Yes, subscribe me',
    ignore: 'If you did not ask for this, ignore this message and nothing will happen.',
  },
  welcome: {
    subject: (lists) => `Welcome to ${lists}`,
    heading: 'You are subscribed',
    body: (lists) => `Thank you for subscribing to ${lists}. The next issue will arrive in this inbox.`,
    manage: 'Change your topics or how often you hear from us at any time:',
  },
  goodbye: {
    subject: (lists) => `You have unsubscribed from ${lists}`,
    heading: 'You are unsubscribed',
    body: (lists) => `You will no longer receive ${lists}. This is the last message we send you about it.`,
    mistake: 'Unsubscribed by mistake?',
    resubscribe: 'Subscribe again',
  },
};

const zhCN: MailStrings = {
  lang: 'zh-CN',
  viewInBrowser: '在浏览器中查看',
  preferences: '订阅偏好',
  unsubscribe: '退订',
  receivingBecause: (list) => `您收到这封邮件，是因为您订阅了「${list}」。`,
  clicksCounted: '本列表会统计各条新闻的点击（每条只计一次，不记录您的其他信息）。',
  clicksOff: '关闭统计',
  greeting: { before: '', after: '，你好！', anonymous: '你好！' },
  commentaryHeading: '编辑点评',
  itemsHeading: (count) => `今日 ${count} 条要闻`,
  formatDay: (day) =>
    new Intl.DateTimeFormat('zh-CN', {
      weekday: 'long',
      day: 'numeric',
      month: 'long',
      year: 'numeric',
      timeZone: 'UTC',
    }).format(dayDate(day)),
  separator: ' · ',
  buttonFallback: '如果按钮无法点击，请打开这个链接：',
  listJoin: (names) => names.map((n) => `「${n}」`).join('、'),
  confirm: {
    subject: (lists) => `请确认订阅${lists}`,
    heading: '还差一步',
    body: (lists) => `请确认您希望订阅${lists}。在您确认之前，我们不会再给您发送任何邮件。`,
    button: '确认订阅',
    ignore: '如果这不是您本人的操作，请忽略这封邮件，什么都不会发生。',
  },
  welcome: {
    subject: (lists) => `欢迎订阅${lists}`,
    heading: '订阅成功',
    body: (lists) => `感谢您订阅${lists}。下一期将发送到这个邮箱。`,
    manage: '您可以随时修改关注的主题：',
  },
  goodbye: {
    subject: (lists) => `您已退订${lists}`,
    heading: '已退订',
    body: (lists) => `您将不再收到${lists}。这是我们就此发给您的最后一封邮件。`,
    mistake: '误操作了？',
    resubscribe: '重新订阅',
  },
};

export function stringsFor(lang: string): MailStrings {
  return lang.toLowerCase().startsWith('zh') ? zhCN : en;
}
