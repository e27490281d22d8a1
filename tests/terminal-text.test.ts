import { describe, expect, it } from 'vitest';
import { forTerminal, isTerminalSafe } from '../src/core/terminal.text.ts';

describe('forTerminal', () => {
  it('replaces clear-screen, window-title, BEL, C1 and bidi-override characters and keeps the rest', () => {
    const hostile = 'bad\u001b[2J\u001b]0;pwned\u0007\u009b31m\u202eevil@example.org 测试\r\n';
    const shown = forTerminal(hostile);
    expect(isTerminalSafe(shown)).toBe(true);
    expect(shown).toBe('bad\uFFFD[2J\uFFFD]0;pwned\uFFFD\uFFFD31m\uFFFDevil@example.org 测试\uFFFD\uFFFD');
  });

  it('leaves ordinary text, CJK and emoji alone', () => {
    const text = 'Ana María <ana@example.org> 张三 🙂';
    expect(forTerminal(text)).toBe(text);
    expect(isTerminalSafe(text)).toBe(true);
  });
});
