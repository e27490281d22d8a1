import { describe, expect, it } from 'vitest';
import { encodeQuotedPrintableChunk } from '../src/render/mime.encoding.ts';

/**
 * The encoder as it was written first, a character string at a time: kept here as the reference the
 * buffer-based one must match byte for byte.
 */
function reference(text: string): string {
  if (text === '') return '';
  const HEX = '0123456789ABCDEF';
  const bytes = Buffer.from(text.replace(/\r\n?/g, '\n'), 'utf8');
  const out: string[] = [];
  let line = '';
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === 0x0a) {
      out.push(line, '\r\n');
      line = '';
      continue;
    }
    let piece: string;
    const atLineEnd = i + 1 === n || bytes[i + 1] === 0x0a;
    if ((b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !atLineEnd)) {
      piece = b === 46 && line === '' ? '=2E' : String.fromCharCode(b);
    } else {
      piece = `=${HEX[b >> 4]}${HEX[b & 15]}`;
    }
    if (line.length + piece.length > 75) {
      out.push(line, '=\r\n');
      line = piece === '.' ? '=2E' : piece;
    } else {
      line += piece;
    }
  }
  if (line !== '' || bytes[n - 1] !== 0x0a) out.push(line, '=\r\n');
  return out.join('');
}

/** RFC 2045 §6.7 decoding, enough to check the encoder: soft breaks go, `=XX` becomes its byte. */
function decodeQuotedPrintable(encoded: string): Buffer {
  const bytes: number[] = [];
  const text = encoded.replace(/=\r\n/g, '');
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '=') {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  return Buffer.from(bytes);
}

/** Deterministic pseudo-random text from an alphabet rich in what quoted-printable treats apart. */
function sample(seed: number, length: number): string {
  const alphabet = [
    'a',
    'Z',
    '0',
    '.',
    '.',
    ' ',
    ' ',
    '\t',
    '=',
    '\n',
    '\r\n',
    '\r',
    '<a href="x">',
    'é',
    '中文',
    '😀',
    '~',
    '\u0001',
  ];
  let state = seed;
  let text = '';
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    text += alphabet[state % alphabet.length];
  }
  return text;
}

describe('quoted-printable chunks', () => {
  it('match the first, string-at-a-time encoder byte for byte on 2,000 varied texts', () => {
    for (let seed = 1; seed <= 2000; seed++) {
      const text = sample(seed, seed % 400);
      expect(encodeQuotedPrintableChunk(text), `seed ${seed}`).toBe(reference(text));
    }
  });

  it('decode back to the text with CRLF line breaks, keep lines within 76 characters and never start one with a dot', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const text = sample(seed * 7, 300);
      const encoded = encodeQuotedPrintableChunk(text);
      const withCrlf = text.replace(/\r\n?|\n/g, '\r\n');
      // A chunk ends with a soft break unless the text ends with a line break.
      expect(decodeQuotedPrintable(encoded).toString('utf8')).toBe(withCrlf);
      for (const line of encoded.split('\r\n')) {
        expect(line.length).toBeLessThanOrEqual(76);
        expect(line.startsWith('.')).toBe(false);
        expect(/[ \t]$/.test(line)).toBe(false);
      }
    }
  });

  it('long lines of one kind of character break where RFC 2045 says', () => {
    expect(encodeQuotedPrintableChunk('.'.repeat(80))).toBe(reference('.'.repeat(80)));
    expect(encodeQuotedPrintableChunk('中'.repeat(40))).toBe(reference('中'.repeat(40)));
    expect(encodeQuotedPrintableChunk(`${'x'.repeat(74)} \n`)).toBe(`${'x'.repeat(74)}=\r\n=20\r\n`);
    expect(encodeQuotedPrintableChunk('')).toBe('');
  });
});
