/**
 * The digest's language decides the template strings (English or Simplified Chinese), the `lang`
 * attribute and the text direction. Front matter wins; otherwise the script that dominates the text
 * decides, counting a Han character about as much as a Latin word.
 */

const RTL_LANGUAGES = new Set(['ar', 'he', 'fa', 'ur', 'yi', 'ps', 'sd', 'ug', 'dv', 'ku']);

/**
 * Tags seen, canonical: every system mail and page asks again for the same few tags, and ICU's
 * canonicalisation costs more than the rest of composing a confirmation's text. Bounded, because
 * the tags come from requests.
 */
const canonical = new Map<string, string | undefined>();
const MAX_TAGS_KEPT = 1000;

/** `zh-cn` → `zh-CN`, `EN` → `en`; undefined when it is not a plausible BCP 47 tag. */
export function normaliseLang(tag: string): string | undefined {
  if (canonical.has(tag)) return canonical.get(tag);
  const trimmed = tag.trim().replace(/_/g, '-');
  let result: string | undefined;
  if (/^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$/.test(trimmed)) {
    try {
      result = Intl.getCanonicalLocales(trimmed)[0];
    } catch {
      result = undefined;
    }
  }
  if (canonical.size >= MAX_TAGS_KEPT) canonical.clear();
  canonical.set(tag, result);
  return result;
}

export function textDirection(lang: string): 'ltr' | 'rtl' {
  return RTL_LANGUAGES.has(lang.split('-')[0]!.toLowerCase()) ? 'rtl' : 'ltr';
}

export function detectLanguage(text: string): string {
  const count = (re: RegExp) => text.match(re)?.length ?? 0;
  const kana = count(/[\u3040-\u30ff]/g);
  const hangul = count(/[\uac00-\ud7af]/g);
  const han = count(/\p{Script=Han}/gu);
  const arabic = count(/\p{Script=Arabic}+/gu);
  const hebrew = count(/\p{Script=Hebrew}+/gu);
  const latinWords = count(/\p{Script=Latin}+/gu);

  const scores: [string, number][] = [
    ['ja', kana > 0 ? kana + han : 0],
    ['ko', hangul],
    ['zh-CN', kana > 0 ? 0 : han / 2],
    ['ar', arabic],
    ['he', hebrew],
    ['en', latinWords],
  ];
  scores.sort((a, b) => b[1] - a[1]);
  return scores[0]![1] > 0 ? scores[0]![0] : 'en';
}
