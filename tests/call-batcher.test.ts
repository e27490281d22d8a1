import { describe, expect, it } from 'vitest';
import { CallBatcher } from '../src/core/call.batcher.ts';

/** A `send` whose batches the test answers by hand, recording what each batch held. */
function manualSend() {
  const batches: { inputs: number[]; resolve: (out: string[]) => void; reject: (e: Error) => void }[] = [];
  const send = (inputs: number[]) =>
    new Promise<string[]>((resolve, reject) => batches.push({ inputs, resolve, reject }));
  return { batches, send };
}

describe('CallBatcher (group commit)', () => {
  it('sends a call at once when nothing is in flight, and gathers the calls that arrive meanwhile into the next batch', async () => {
    const { batches, send } = manualSend();
    const batcher = new CallBatcher(send, { maxBatch: 100, concurrency: 1 });
    const first = batcher.call(1);
    expect(batches.map((b) => b.inputs)).toEqual([[1]]);
    const later = [batcher.call(2), batcher.call(3), batcher.call(4)];
    expect(batches).toHaveLength(1);
    batches[0]!.resolve(['one']);
    expect(await first).toBe('one');
    expect(batches.map((b) => b.inputs)).toEqual([[1], [2, 3, 4]]);
    batches[1]!.resolve(['two', 'three', 'four']);
    expect(await Promise.all(later)).toEqual(['two', 'three', 'four']);
  });

  it('keeps at most `concurrency` batches in flight and at most `maxBatch` calls in one', async () => {
    const { batches, send } = manualSend();
    const batcher = new CallBatcher(send, { maxBatch: 2, concurrency: 2 });
    const calls = [1, 2, 3, 4, 5, 6].map((n) => batcher.call(n));
    expect(batches.map((b) => b.inputs)).toEqual([[1], [2]]);
    batches[0]!.resolve(['a']);
    await calls[0];
    expect(batches.map((b) => b.inputs)).toEqual([[1], [2], [3, 4]]);
    batches[1]!.resolve(['b']);
    batches[2]!.resolve(['c', 'd']);
    await Promise.all(calls.slice(1, 4));
    expect(batches.map((b) => b.inputs)).toEqual([[1], [2], [3, 4], [5, 6]]);
    batches[3]!.resolve(['e', 'f']);
    expect(await Promise.all(calls)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('fails every call of a failed batch with its error, and goes on with the next batch', async () => {
    const { batches, send } = manualSend();
    const batcher = new CallBatcher(send, { maxBatch: 10, concurrency: 1 });
    const first = batcher.call(1);
    const second = [batcher.call(2), batcher.call(3)];
    batches[0]!.resolve(['ok']);
    await first;
    batches[1]!.reject(new Error('connection lost'));
    for (const call of second) await expect(call).rejects.toThrow('connection lost');
    const third = batcher.call(4);
    batches[2]!.resolve(['again']);
    expect(await third).toBe('again');
  });

  it('fails the calls of a batch whose answer does not have one result per call', async () => {
    const { batches, send } = manualSend();
    const batcher = new CallBatcher(send, { maxBatch: 10, concurrency: 1 });
    const call = batcher.call(1);
    batches[0]!.resolve([]);
    await expect(call).rejects.toThrow('a batch of 1 calls returned 0 results');
  });
});
