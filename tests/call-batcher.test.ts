import { describe, expect, it } from 'vitest';
import { CallBatcher } from '../src/core/call.batcher.ts';

/** A `send` whose batches the test answers by hand, recording what each batch held. */
function manualSend() {
  const batches: { inputs: number[]; resolve: (out: string[]) => void; reject: (e: Error) => void }[] = [];
  const send = (inputs: number[]) =>
    new Promise<string[]>((resolve, reject) => batches.push({ inputs, resolve, reject }));
  return { batches, send };
}

/** Lets the batcher's pending promise callbacks run (no timer: one turn of the event loop). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

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
    await settle();
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
    await settle();
    expect(batches.map((b) => b.inputs)).toEqual([[1], [2], [3, 4]]);
    batches[1]!.resolve(['b']);
    batches[2]!.resolve(['c', 'd']);
    await Promise.all(calls.slice(1, 4));
    await settle();
    expect(batches.map((b) => b.inputs)).toEqual([[1], [2], [3, 4], [5, 6]]);
    batches[3]!.resolve(['e', 'f']);
    expect(await Promise.all(calls)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('sends each call of a failed batch again alone, so one bad call fails alone and its neighbours are written', async () => {
    const { batches, send } = manualSend();
    const batcher = new CallBatcher(send, { maxBatch: 10, concurrency: 1 });
    const first = batcher.call(1);
    const gathered = [batcher.call(2), batcher.call(3), batcher.call(4)];
    batches[0]!.resolve(['one']);
    await first;
    await settle();
    expect(batches[1]!.inputs).toEqual([2, 3, 4]);
    batches[1]!.reject(new Error('deadlock detected'));
    await settle();
    expect(batches.slice(2).map((b) => b.inputs)).toEqual([[2], [3], [4]]);
    batches[2]!.resolve(['two']);
    batches[3]!.reject(new Error('row 3 is bad'));
    batches[4]!.resolve(['four']);
    expect(await gathered[0]).toBe('two');
    await expect(gathered[1]).rejects.toThrow('row 3 is bad');
    expect(await gathered[2]).toBe('four');
    await settle();
    // The retries took the failed batch's place: nothing else was sent meanwhile.
    const next = batcher.call(5);
    expect(batches.at(-1)!.inputs).toEqual([5]);
    batches.at(-1)!.resolve(['five']);
    expect(await next).toBe('five');
  });

  it('fails the calls of a batch whose answer does not have one result per call', async () => {
    const { batches, send } = manualSend();
    const batcher = new CallBatcher(send, { maxBatch: 10, concurrency: 1 });
    const call = batcher.call(1);
    batches[0]!.resolve([]);
    await expect(call).rejects.toThrow('a batch of 1 calls returned 0 results');
  });
});
