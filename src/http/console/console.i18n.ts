import type { Lang } from '../i18n.ts';

/**
 * The console's words in English and Simplified Chinese. Kept apart from the reader pages' strings:
 * editors and readers see different things, and neither list should grow with the other's.
 */
export interface ConsoleText {
  console: string;
  nav: {
    dashboard: string;
    newIssue: string;
    subscribers: string;
    suppressions: string;
    lists: string;
    editors: string;
    audit: string;
  };
  signOut: string;
  skip: string;
  loginTitle: string;
  loginIntro: string;
  email: string;
  sendLink: string;
  loginSentTitle: string;
  loginSentBody: string;
  loginAgain: string;
  signInTitle: string;
  signInBody: string;
  signIn: string;
  linkUsedTitle: string;
  linkUsedBody: string;
  tooManyTitle: string;
  tooManyBody: string;
  dashboardTitle: string;
  lists: string;
  issues: string;
  noIssues: string;
  noLists: string;
  confirmed: string;
  pending: string;
  unsubscribed: string;
  status: Record<string, string>;
  counts: Record<string, string>;
  progress: string;
  list: string;
  title: string;
  when: string;
  newIssueTitle: string;
  markdown: string;
  markdownHint: string;
  orUpload: string;
  create: string;
  preview: string;
  previewLight: string;
  previewDark: string;
  phone: string;
  desktop: string;
  inbox: string;
  from: string;
  subject: string;
  preheader: string;
  items: string;
  htmlSize: string;
  clipWarning: string;
  warnings: string;
  noWarnings: string;
  previewHint: string;
  issueTitle: (id: number) => string;
  pauseReason: string;
  sendTest: string;
  testTo: string;
  testHint: string;
  schedule: string;
  scheduleAt: (tz: string) => string;
  send: string;
  sendConfirm: (n: number) => string;
  sendConfirmLabel: string;
  pause: string;
  resume: string;
  cancel: string;
  done: Record<string, string>;
  error: string;
  notFound: string;
  subscribersTitle: string;
  search: string;
  searchHint: string;
  noResults: string;
  add: string;
  name: string;
  optional: string;
  importTitle: string;
  csvFile: string;
  import: string;
  importReport: (r: { imported: number; updated: number; skipped: number; invalid: number }) => string;
  exportTitle: string;
  export: string;
  erase: string;
  eraseConfirm: string;
  recentDeliveries: string;
  recentEvents: string;
  suppressionsTitle: string;
  reason: string;
  note: string;
  remove: string;
  since: string;
  listsTitle: string;
  slug: string;
  description: string;
  optIn: string;
  single: string;
  double: string;
  language: string;
  topics: string;
  topicsHint: string;
  public: string;
  trackClicks: string;
  trackClicksHint: string;
  clicksTitle: string;
  clicksSummary: (human: number, delivered: number, scanner: number) => string;
  story: string;
  readers: string;
  share: string;
  scanners: string;
  save: string;
  createButton: string;
  statusLabel: string;
  editorsTitle: string;
  role: string;
  auditTitle: string;
  who: string;
  what: string;
  object: string;
  nothing: string;
}

const en: ConsoleText = {
  console: 'Console',
  nav: {
    dashboard: 'Dashboard',
    newIssue: 'New issue',
    subscribers: 'Subscribers',
    suppressions: 'Suppressions',
    lists: 'Lists',
    editors: 'Editors',
    audit: 'Audit log',
  },
  signOut: 'Sign out',
  skip: 'Skip to content',
  loginTitle: 'Sign in to the console',
  loginIntro:
    'Enter your address: if you are an editor, we mail you a sign-in link that works once, for 15 minutes.',
  email: 'Email address',
  sendLink: 'Mail me a sign-in link',
  loginSentTitle: 'Check your inbox',
  loginSentBody:
    'If that address belongs to an editor, a sign-in link is on its way. It works once, for 15 minutes.',
  loginAgain: 'Back to sign-in',
  signInTitle: 'Sign in',
  signInBody: 'Press the button to sign in to the console. The link then stops working.',
  signIn: 'Sign in',
  linkUsedTitle: 'This link no longer works',
  linkUsedBody: 'Sign-in links work once, for 15 minutes. Ask for a new one.',
  tooManyTitle: 'Too many attempts',
  tooManyBody: 'Too many sign-in requests. Wait a few minutes and try again.',
  dashboardTitle: 'Dashboard',
  lists: 'Lists',
  issues: 'Issues',
  noIssues: 'No issues yet.',
  noLists: 'No lists yet.',
  confirmed: 'confirmed',
  pending: 'pending',
  unsubscribed: 'unsubscribed',
  status: {
    draft: 'draft',
    scheduled: 'scheduled',
    sending: 'sending',
    paused: 'paused',
    sent: 'sent',
    cancelled: 'cancelled',
  },
  counts: {
    total: 'total',
    queued: 'queued',
    sending: 'sending',
    sent: 'sent',
    delivered: 'delivered',
    failed: 'failed',
    bounced: 'bounced',
    complained: 'complained',
    suppressed: 'suppressed',
    unsubscribed: 'unsubscribed',
    resent_after_crash: 'resent after crash',
  },
  progress: 'Progress',
  list: 'List',
  title: 'Title',
  when: 'When',
  newIssueTitle: 'New issue',
  markdown: 'Digest (Markdown with front matter)',
  markdownHint: 'Paste the digest, or upload its .md file below. The preview follows as you type.',
  orUpload: 'Or upload a .md file',
  create: 'Save as draft',
  preview: 'Preview',
  previewLight: 'light',
  previewDark: 'dark',
  phone: 'phone, 375 px',
  desktop: 'desktop, 600 px',
  inbox: 'In the inbox',
  from: 'From',
  subject: 'Subject',
  preheader: 'Preheader',
  items: 'Items',
  htmlSize: 'HTML size',
  clipWarning: 'over 80 % of the 102 KB at which Gmail clips a message',
  warnings: 'Warnings',
  noWarnings: 'No warnings.',
  previewHint: 'The preview runs no script and opens no link.',
  issueTitle: (id) => `Issue ${id}`,
  pauseReason: 'Paused because',
  sendTest: 'Send a test',
  testTo: 'To (comma-separated)',
  testHint: 'The real message, marked [TEST]; nothing is recorded as a delivery.',
  schedule: 'Schedule',
  scheduleAt: (tz) => `Send at (time zone ${tz})`,
  send: 'Send now',
  sendConfirm: (n) => `This issue goes to ${n} reader${n === 1 ? '' : 's'}. To send it now, type ${n} below.`,
  sendConfirmLabel: 'Number of readers',
  pause: 'Pause',
  resume: 'Resume',
  cancel: 'Cancel for good',
  done: {
    created: 'Saved as a draft.',
    test: 'Test sent.',
    schedule: 'Scheduled.',
    send: 'Sending started.',
    pause: 'Paused.',
    resume: 'Resumed.',
    cancel: 'Cancelled.',
    added: 'Added.',
    removed: 'Removed.',
    erased: 'Erased; the address stays suppressed.',
    saved: 'Saved.',
  },
  error: 'That did not work',
  notFound: 'Not found',
  subscribersTitle: 'Subscribers',
  search: 'Search',
  searchHint: 'An address, or its beginning.',
  noResults: 'No subscriber matches.',
  add: 'Add',
  name: 'Name',
  optional: 'optional',
  importTitle: 'Import a CSV',
  csvFile: 'CSV file (a header row with an email column)',
  import: 'Import',
  importReport: (r) =>
    `${r.imported} imported, ${r.updated} updated, ${r.skipped} skipped, ${r.invalid} invalid`,
  exportTitle: 'Export',
  export: 'Download CSV',
  erase: 'Erase this person',
  eraseConfirm: 'Type the address to confirm',
  recentDeliveries: 'Recent deliveries',
  recentEvents: 'Recent bounces and complaints',
  suppressionsTitle: 'Suppressions',
  reason: 'Reason',
  note: 'Note',
  remove: 'Remove',
  since: 'Since',
  listsTitle: 'Lists',
  slug: 'Slug (in URLs)',
  description: 'Description',
  optIn: 'Opt-in',
  single: 'single',
  double: 'double (confirm by email)',
  language: 'Language',
  topics: 'Topics',
  topicsHint: 'Comma-separated.',
  public: 'Offer on the public signup form',
  trackClicks: 'Count which stories readers click',
  trackClicksHint:
    'Off by default. The footer then says so, and each reader can turn it off on their preferences page.',
  clicksTitle: 'What readers clicked',
  clicksSummary: (human, delivered, scanner) =>
    `${human} of ${delivered} readers clicked at least one story; ${scanner} messages were opened by link scanners (not counted as readers).`,
  story: 'Story',
  readers: 'Readers',
  share: 'Share of delivered',
  scanners: 'Scanners',
  save: 'Save',
  createButton: 'Create',
  statusLabel: 'Status',
  editorsTitle: 'Editors',
  role: 'Role',
  auditTitle: 'Audit log',
  who: 'Who',
  what: 'What',
  object: 'Object',
  nothing: 'Nothing yet.',
};

const zhCN: ConsoleText = {
  console: '控制台',
  nav: {
    dashboard: '概览',
    newIssue: '新建一期',
    subscribers: '订阅者',
    suppressions: '屏蔽名单',
    lists: '列表',
    editors: '编辑',
    audit: '操作记录',
  },
  signOut: '退出',
  skip: '跳到正文',
  loginTitle: '登录控制台',
  loginIntro: '输入您的邮箱：如果您是编辑，我们会发送一个登录链接，15 分钟内有效，只能使用一次。',
  email: '邮箱地址',
  sendLink: '发送登录链接',
  loginSentTitle: '请查收邮件',
  loginSentBody: '如果该地址属于一位编辑，登录链接已经发出。链接 15 分钟内有效，只能使用一次。',
  loginAgain: '返回登录',
  signInTitle: '登录',
  signInBody: '点击按钮登录控制台。之后此链接即失效。',
  signIn: '登录',
  linkUsedTitle: '此链接已失效',
  linkUsedBody: '登录链接 15 分钟内有效，只能使用一次。请重新获取。',
  tooManyTitle: '尝试次数过多',
  tooManyBody: '登录请求过多，请几分钟后再试。',
  dashboardTitle: '概览',
  lists: '列表',
  issues: '各期',
  noIssues: '还没有任何一期。',
  noLists: '还没有列表。',
  confirmed: '已确认',
  pending: '待确认',
  unsubscribed: '已退订',
  status: {
    draft: '草稿',
    scheduled: '已排期',
    sending: '发送中',
    paused: '已暂停',
    sent: '已发送',
    cancelled: '已取消',
  },
  counts: {
    total: '总数',
    queued: '排队',
    sending: '发送中',
    sent: '已发送',
    delivered: '已送达',
    failed: '失败',
    bounced: '退信',
    complained: '投诉',
    suppressed: '已屏蔽',
    unsubscribed: '已退订',
    resent_after_crash: '崩溃后重发',
  },
  progress: '进度',
  list: '列表',
  title: '标题',
  when: '时间',
  newIssueTitle: '新建一期',
  markdown: '简报（带 front matter 的 Markdown）',
  markdownHint: '粘贴简报内容，或在下方上传 .md 文件。预览随输入更新。',
  orUpload: '或上传 .md 文件',
  create: '保存为草稿',
  preview: '预览',
  previewLight: '浅色',
  previewDark: '深色',
  phone: '手机，375 px',
  desktop: '桌面，600 px',
  inbox: '收件箱中',
  from: '发件人',
  subject: '主题',
  preheader: '预览文字',
  items: '条目',
  htmlSize: 'HTML 大小',
  clipWarning: '超过 Gmail 截断阈值 102 KB 的 80%',
  warnings: '警告',
  noWarnings: '没有警告。',
  previewHint: '预览不运行脚本，也不打开链接。',
  issueTitle: (id) => `第 ${id} 期`,
  pauseReason: '暂停原因',
  sendTest: '发送测试邮件',
  testTo: '收件人（逗号分隔）',
  testHint: '真实邮件，主题标注 [TEST]；不计入投递记录。',
  schedule: '排期',
  scheduleAt: (tz) => `发送时间（时区 ${tz}）`,
  send: '立即发送',
  sendConfirm: (n) => `本期将发给 ${n} 位读者。如要立即发送，请在下方输入 ${n}。`,
  sendConfirmLabel: '读者人数',
  pause: '暂停',
  resume: '继续',
  cancel: '永久取消',
  done: {
    created: '已保存为草稿。',
    test: '测试邮件已发送。',
    schedule: '已排期。',
    send: '已开始发送。',
    pause: '已暂停。',
    resume: '已继续。',
    cancel: '已取消。',
    added: '已添加。',
    removed: '已移除。',
    erased: '已删除；该地址仍在屏蔽名单中。',
    saved: '已保存。',
  },
  error: '操作未成功',
  notFound: '未找到',
  subscribersTitle: '订阅者',
  search: '搜索',
  searchHint: '邮箱地址或其开头部分。',
  noResults: '没有匹配的订阅者。',
  add: '添加',
  name: '姓名',
  optional: '可选',
  importTitle: '导入 CSV',
  csvFile: 'CSV 文件（首行为表头，含 email 列）',
  import: '导入',
  importReport: (r) => `导入 ${r.imported}，更新 ${r.updated}，跳过 ${r.skipped}，无效 ${r.invalid}`,
  exportTitle: '导出',
  export: '下载 CSV',
  erase: '删除此人',
  eraseConfirm: '输入邮箱地址以确认',
  recentDeliveries: '最近的投递',
  recentEvents: '最近的退信和投诉',
  suppressionsTitle: '屏蔽名单',
  reason: '原因',
  note: '备注',
  remove: '移除',
  since: '自',
  listsTitle: '列表',
  slug: '标识（用于网址）',
  description: '描述',
  optIn: '订阅确认',
  single: '单次确认',
  double: '双重确认（邮件确认）',
  language: '语言',
  topics: '主题',
  topicsHint: '逗号分隔。',
  public: '在公开订阅表单中显示',
  trackClicks: '统计读者点击了哪些新闻',
  trackClicksHint: '默认关闭。开启后邮件页脚会注明，每位读者都可以在订阅偏好中关闭。',
  clicksTitle: '读者点击',
  clicksSummary: (human, delivered, scanner) =>
    `${delivered} 位读者中有 ${human} 位至少点击了一条新闻；${scanner} 封邮件被链接扫描器打开（不计为读者）。`,
  story: '新闻',
  readers: '读者',
  share: '占送达比例',
  scanners: '扫描器',
  save: '保存',
  createButton: '创建',
  statusLabel: '状态',
  editorsTitle: '编辑',
  role: '角色',
  auditTitle: '操作记录',
  who: '操作者',
  what: '操作',
  object: '对象',
  nothing: '暂无记录。',
};

export function consoleText(lang: Lang): ConsoleText {
  return lang === 'zh-CN' ? zhCN : en;
}
