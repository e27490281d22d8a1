/**
 * The digest's language decides the template strings (English or Simplified Chinese), the `lang`
 * attribute and the text direction. Front matter wins; otherwise the script that dominates the text
 * decides, counting a Han character about as much as a Latin word.
 */

const RTL_LANGUAGES = new Set(['ar', 'he', 'fa', 'ur', 'yi', 'ps', 'sd', 'ug', 'dv', 'ku']);

/** `zh-cn` → `zh-CN`, `EN` → `en`; undefined when it is not a plausible BCP 47 tag. */
export function normaliseLang(tag: string): string | undefined {
  const trimmed = tag.trim().replace(/_/g, '-');
  if (!/^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$/.test(trimmed)) return undefined;
  try {
    return Intl.getCanonicalLocales(trimmed)[0];
  } catch {
    return undefined;
  }
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
