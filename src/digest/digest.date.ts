/**
 * Dates in front matter keep their own offset: `2025-11-10T07:00:00+08:00` is the 10th, whatever zone
 * the server runs in. A date written without an offset is read in the given zone (the TZ setting).
 */

export interface DigestDate {
  instant: Date;
  /** `+08:00`, `-05:00`, `+00:00`. */
  offset: string;
  offsetMinutes: number;
  /** The calendar day in the date's own offset, `2025-11-10`. */
  day: string;
}

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

export function parseDigestDate(text: string, timeZone: string): DigestDate | undefined {
  const m = ISO.exec(text.trim());
  if (!m) return undefined;
  const [year, month, day, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map((v) => (v ? Number(v) : 0));
  const millis = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  const localAsUtc = Date.UTC(year!, month! - 1, day!, hour, minute, second, millis);
  const check = new Date(localAsUtc);
  // Date.UTC rolls 2025-02-30 over into March; a real calendar date survives the round trip.
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month! - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return undefined;
  }

  let offsetMinutes: number;
  const zone = m[8];
  if (zone === undefined) {
    offsetMinutes = zoneOffsetMinutes(timeZone, localAsUtc);
  } else if (zone === 'Z' || zone === 'z') {
    offsetMinutes = 0;
  } else {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const h = Number(digits.slice(0, 2));
    const mm = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (h > 18 || mm > 59) return undefined;
    offsetMinutes = sign * (h * 60 + mm);
  }
  return {
    instant: new Date(localAsUtc - offsetMinutes * 60_000),
    offset: formatOffset(offsetMinutes),
    offsetMinutes,
    day: `${m[1]}-${m[2]}-${m[3]}`,
  };
}

export function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** The zone's offset for a wall-clock time, found by asking Intl twice (handles DST edges well enough). */
function zoneOffsetMinutes(timeZone: string, localAsUtc: number): number {
  const first = offsetAt(timeZone, localAsUtc);
  const second = offsetAt(timeZone, localAsUtc - first * 60_000);
  return second;
}

function offsetAt(timeZone: string, instant: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(instant));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return Math.round((asUtc - Math.floor(instant / 1000) * 1000) / 60_000);
}
