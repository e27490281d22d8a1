/**
 * The reader-facing pages speak English and Simplified Chinese. The language comes from `?lang=`
 * (the switch on every page, and the links in mail), then the browser's Accept-Language, then the
 * default.
 */

export type Lang = 'en' | 'zh-CN';

export const LANGS: readonly Lang[] = ['en', 'zh-CN'];

/** Maps a tag such as "zh", "zh-Hans-CN" or "en-GB" to a page language, or undefined. */
export function toLang(tag: string | undefined): Lang | undefined {
  if (!tag) return undefined;
  const lower = tag.trim().toLowerCase();
  if (lower === 'zh' || lower.startsWith('zh-cn') || lower.startsWith('zh-hans') || lower.startsWith('zh-sg'))
    return 'zh-CN';
  if (lower.startsWith('zh')) return 'zh-CN';
  if (lower === 'en' || lower.startsWith('en-')) return 'en';
  return undefined;
}

/** The first language of Accept-Language (by q) that the pages speak. */
export function fromAcceptLanguage(header: string | undefined): Lang | undefined {
  if (!header) return undefined;
  const ranked = header
    .slice(0, 512)
    .split(',')
    .map((part, index) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag: tag ?? '', q: q ? Number(q.slice(2)) || 0 : 1, index };
    })
    .filter((r) => r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const r of ranked) {
    const lang = toLang(r.tag);
    if (lang) return lang;
  }
  return undefined;
}

export function pickLang(query: unknown, acceptLanguage: string | undefined, fallback: Lang = 'en'): Lang {
  const asked = typeof query === 'string' ? toLang(query) : undefined;
  return asked ?? fromAcceptLanguage(acceptLanguage) ?? fallback;
}

export interface Messages {
  langName: string;
  subscribeTitle: string;
  subscribeIntro: string;
  email: string;
  emailHint: string;
  name: string;
  optional: string;
  lists: string;
  chooseLists: string;
  subscribe: string;
  honeypot: string;
  privacy: string;
  noLists: string;
  checkInboxTitle: string;
  checkInboxBody: string;
  checkInboxHint: string;
  rateLimitedTitle: string;
  rateLimitedBody: string;
  confirmTitle: string;
  confirmBody: (lists: string) => string;
  confirmButton: string;
  confirmedTitle: string;
  confirmedBody: (lists: string) => string;
  notConfirmedBody: string;
  changePreferences: string;
  linkInvalidTitle: string;
  linkInvalidBody: string;
  linkExpiredTitle: string;
  linkExpiredBody: string;
  getNewLink: string;
  unsubscribeTitle: string;
  unsubscribeBody: (list: string, email: string) => string;
  unsubscribeButton: (list: string) => string;
  unsubscribeAll: string;
  orPreferences: string;
  unsubscribedTitle: string;
  unsubscribedBody: (lists: string) => string;
  notSubscribedBody: string;
  changedMind: string;
  resubscribe: string;
  resubscribedTitle: string;
  resubscribedBody: (lists: string) => string;
  /** "Subscribe again" on a double-opt-in list: nothing changes until the mailed link is pressed. */
  comeBackConfirmBody: (lists: string) => string;
  testTitle: string;
  testBody: string;
  oneClickDone: string;
  preferencesTitle: string;
  preferencesIntro: (email: string) => string;
  receive: (list: string) => string;
  topics: string;
  topicsHint: string;
  save: string;
  /** Beside a list ticked on the preferences page that waits for the mailed link (double opt-in). */
  pendingNote: string;
  /** After a save that made double-opt-in lists pending: nothing is received until the mailed link. */
  joinConfirmBody: (lists: string) => string;
  countClicks: string;
  countClicksHint: string;
  leaveAll: string;
  savedTitle: string;
  savedBody: string;
  suppressedBody: string;
  readerGoneTitle: string;
  readerGoneBody: string;
  errorTitle: string;
  formExpired: string;
  tooLarge: string;
  notFoundTitle: string;
  notFoundBody: string;
  serverError: string;
  emailInvalid: (reason: string) => string;
  noListChosen: string;
  listUnknown: string;
  back: string;
  listSeparator: string;
}

const en: Messages = {
  langName: 'English',
  subscribeTitle: 'Subscribe',
  subscribeIntro: 'Get each issue in your inbox.',
  email: 'Email address',
  emailHint: 'We send a link to this address to confirm it is yours.',
  name: 'Name',
  optional: 'optional',
  lists: 'Lists',
  chooseLists: 'Choose at least one.',
  subscribe: 'Subscribe',
  honeypot: 'Leave this field empty',
  privacy: 'You can leave with one click from any email we send.',
  noLists: 'There is nothing to sign up for yet.',
  checkInboxTitle: 'Check your inbox',
  checkInboxBody:
    'If this address can receive our mail, a message is on its way. Open the link in it to confirm your subscription.',
  checkInboxHint: 'Nothing arrived? Look in your spam folder, or try again in ten minutes.',
  rateLimitedTitle: 'Too many attempts',
  rateLimitedBody: 'Please wait a while and try again.',
  confirmTitle: 'Confirm your subscription',
  confirmBody: (lists) => `Press the button to start receiving ${lists}.`,
  confirmButton: 'Confirm subscription',
  confirmedTitle: 'You are subscribed',
  confirmedBody: (lists) => `Thank you. You will receive ${lists}.`,
  notConfirmedBody: 'This address cannot be subscribed from here. Please contact us if that is a mistake.',
  changePreferences: 'Change what you receive',
  linkInvalidTitle: 'This link is not valid',
  linkInvalidBody:
    'Your mail program may have cut it off. Copy the whole link into the address bar, or sign up again for a new one.',
  linkExpiredTitle: 'This link has expired',
  linkExpiredBody: 'Confirmation links work for 48 hours. Sign up again and we will send you a new one.',
  getNewLink: 'Get a new link',
  unsubscribeTitle: 'Unsubscribe',
  unsubscribeBody: (list, email) => `Stop sending ${list} to ${email}?`,
  unsubscribeButton: (list) => `Unsubscribe from ${list}`,
  unsubscribeAll: 'Unsubscribe from everything',
  orPreferences: 'Or change what you receive',
  unsubscribedTitle: 'You are unsubscribed',
  unsubscribedBody: (lists) => `You will not receive ${lists} any more.`,
  notSubscribedBody: 'This address is not subscribed to this list.',
  changedMind: 'Changed your mind?',
  resubscribe: 'Subscribe again',
  resubscribedTitle: 'Welcome back',
  resubscribedBody: (lists) => `You are subscribed to ${lists} again.`,
  comeBackConfirmBody: (lists) =>
    `To receive ${lists} again, check your inbox to confirm: press the link in the confirmation mail we sent to this address. Nothing changes until you do.`,
  testTitle: 'This link came from a test message',
  testBody: 'Nothing has changed. Test messages are sent only to the editors.',
  oneClickDone: 'You are unsubscribed.',
  preferencesTitle: 'Your preferences',
  preferencesIntro: (email) => `Settings for ${email}.`,
  receive: (list) => `Receive ${list}`,
  topics: 'Topics',
  topicsHint: 'Leave every topic unticked to receive everything.',
  save: 'Save preferences',
  pendingNote: 'Waiting for your confirmation: press the link in the mail we sent to this address.',
  joinConfirmBody: (lists) =>
    `To start receiving ${lists}, check your inbox to confirm: press the link in the confirmation mail we sent to this address. Nothing is sent until you do.`,
  countClicks: 'Count which stories I click',
  countClicksHint:
    'This list counts the first click on each story, nothing else about you. Untick it and your links go straight to the source.',
  leaveAll: 'Unsubscribe from everything',
  savedTitle: 'Saved',
  savedBody: 'Your preferences are saved.',
  suppressedBody:
    'Mail to this address was refused earlier, so we cannot subscribe it again from here. Please contact us if that is a mistake.',
  readerGoneTitle: 'No subscription found',
  readerGoneBody: 'We hold nothing for this link any more.',
  errorTitle: 'Something is not right',
  formExpired: 'This form has expired. Go back, reload the page and try again.',
  tooLarge: 'What was sent is too large.',
  notFoundTitle: 'Page not found',
  notFoundBody: 'There is no page at this address.',
  serverError: 'Something went wrong on our side. Please try again later.',
  emailInvalid: (reason) => `Please enter a valid email address (${reason}).`,
  noListChosen: 'Please choose at least one list.',
  listUnknown: 'One of the lists chosen does not exist.',
  back: 'Back',
  listSeparator: ', ',
};

const zhCN: Messages = {
  langName: '中文',
  subscribeTitle: '订阅',
  subscribeIntro: '每一期都送到你的邮箱。',
  email: '邮箱地址',
  emailHint: '我们会向这个地址发送一个确认链接。',
  name: '称呼',
  optional: '可选',
  lists: '邮件列表',
  chooseLists: '至少选择一个。',
  subscribe: '订阅',
  honeypot: '请勿填写此项',
  privacy: '每封邮件里都有一键退订链接。',
  noLists: '目前还没有可以订阅的内容。',
  checkInboxTitle: '请查收邮件',
  checkInboxBody: '如果这个地址可以收到我们的邮件，确认邮件已经在路上。请打开邮件中的链接完成订阅。',
  checkInboxHint: '没有收到？请查看垃圾邮件文件夹，或十分钟后再试。',
  rateLimitedTitle: '尝试次数过多',
  rateLimitedBody: '请稍后再试。',
  confirmTitle: '确认订阅',
  confirmBody: (lists) => `点击下面的按钮，开始接收「${lists}」。`,
  confirmButton: '确认订阅',
  confirmedTitle: '订阅成功',
  confirmedBody: (lists) => `谢谢！你将收到「${lists}」。`,
  notConfirmedBody: '无法在这里订阅这个地址。如有误，请与我们联系。',
  changePreferences: '修改订阅偏好',
  linkInvalidTitle: '链接无效',
  linkInvalidBody: '链接可能被邮件程序截断了。请复制完整链接到地址栏，或重新订阅以获取新链接。',
  linkExpiredTitle: '链接已过期',
  linkExpiredBody: '确认链接 48 小时内有效。重新订阅，我们会再发一个新链接。',
  getNewLink: '获取新链接',
  unsubscribeTitle: '退订',
  unsubscribeBody: (list, email) => `不再向 ${email} 发送「${list}」？`,
  unsubscribeButton: (list) => `退订「${list}」`,
  unsubscribeAll: '退订全部',
  orPreferences: '或者修改订阅偏好',
  unsubscribedTitle: '已退订',
  unsubscribedBody: (lists) => `你将不再收到「${lists}」。`,
  notSubscribedBody: '这个地址没有订阅该列表。',
  changedMind: '改变主意了？',
  resubscribe: '重新订阅',
  resubscribedTitle: '欢迎回来',
  resubscribedBody: (lists) => `你已重新订阅「${lists}」。`,
  comeBackConfirmBody: (lists) =>
    `要重新接收「${lists}」，请查收邮件并确认：点击我们发到这个地址的确认邮件中的链接。在此之前不会有任何变化。`,
  testTitle: '这个链接来自测试邮件',
  testBody: '什么都没有改变。测试邮件只发给编辑。',
  oneClickDone: '已退订。',
  preferencesTitle: '订阅偏好',
  preferencesIntro: (email) => `${email} 的设置。`,
  receive: (list) => `接收「${list}」`,
  topics: '主题',
  topicsHint: '不勾选任何主题即接收全部内容。',
  save: '保存',
  pendingNote: '等待确认：请点击我们发到这个地址的邮件中的链接。',
  joinConfirmBody: (lists) =>
    `要开始接收「${lists}」，请查收邮件并确认：点击我们发到这个地址的确认邮件中的链接。在此之前不会给你发送任何内容。`,
  countClicks: '统计我点击了哪些新闻',
  countClicksHint:
    '本列表只记录每条新闻的首次点击，不记录您的其他信息。取消勾选后，邮件中的链接将直接指向原文。',
  leaveAll: '退订全部',
  savedTitle: '已保存',
  savedBody: '你的订阅偏好已保存。',
  suppressedBody: '发往这个地址的邮件曾被拒收，因此无法在这里重新订阅。如有误，请与我们联系。',
  readerGoneTitle: '找不到订阅',
  readerGoneBody: '这个链接对应的信息已不存在。',
  errorTitle: '出了点问题',
  formExpired: '表单已过期。请返回、刷新页面后重试。',
  tooLarge: '提交的内容太大。',
  notFoundTitle: '页面不存在',
  notFoundBody: '这个地址没有页面。',
  serverError: '服务器出错了，请稍后再试。',
  emailInvalid: (reason) => `请输入有效的邮箱地址（${reason}）。`,
  noListChosen: '请至少选择一个列表。',
  listUnknown: '所选的列表不存在。',
  back: '返回',
  listSeparator: '、',
};

export function messages(lang: Lang): Messages {
  return lang === 'zh-CN' ? zhCN : en;
}
