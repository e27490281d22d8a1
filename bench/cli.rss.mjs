// Preloaded (`node --import`) into each process bench:cli starts: on exit, appends the process's
// peak resident set size (getrusage maxrss, KiB) to CLI_BENCH_RSS — exact even for a process that
// lives 50 ms, where sampling /proc would miss the peak.
import { appendFileSync } from 'node:fs';

const file = process.env.CLI_BENCH_RSS;
if (file) process.on('exit', () => appendFileSync(file, `${process.resourceUsage().maxRSS}\n`));
