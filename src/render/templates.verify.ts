import type { Config } from '../config/config.loader.ts';
import { parseDigest } from '../digest/digest.parser.ts';
import { compileIssue } from './issue.compiler.ts';
import { verifySystemTemplates } from './system-mail.ts';

/** A digest that exercises every part of digest.mjml: categories, intro, items with and without links, commentary. */
const SAMPLES = [
  `---
title: "Template check"
date: 2025-01-01T00:00:00Z
categories: ["check"]
lang: en
---

Intro with **emphasis**, \`code\` and a [link](https://example.org).

---

1. [Linked item](https://example.org/a)

   Summary.

2. Item without a link

---

Commentary.
`,
  `---
title: "模板检查"
date: 2025-01-01T00:00:00+08:00
lang: zh-CN
---

导语。

---

1. [条目](https://example.org/b)

   摘要。
`,
];

/**
 * Compiles every template in both languages with MJML's strict validation. Called at start by long-
 * running processes (and by the tests), so a broken template stops the server instead of a send.
 */
export async function verifyTemplates(config: Config): Promise<void> {
  for (const source of SAMPLES) {
    const digest = parseDigest(source, 'template-check.md');
    await compileIssue(digest, { config, list: { slug: 'check', name: 'Check' } });
  }
  await verifySystemTemplates(config);
}
