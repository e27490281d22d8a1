import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { CsvError, parse } from 'csv-parse';
import { invalid } from '../core/errors.ts';
import { checkEmail } from '../core/email-address.ts';
import { cleanName } from '../core/person-name.text.ts';
import type { ImportCounts, ImportRow, SubscribersRepository } from './subscribers.repository.ts';

export interface ImportReport extends ImportCounts {
  invalid: number;
  /** Data rows read (not counting the header or empty lines). */
  rows: number;
}

export interface InvalidRow {
  line: number;
  reason: string;
}

export interface ImportOptions {
  batchSize?: number;
  /** Called for each row that cannot be imported, as it is found (the import goes on). */
  onInvalid?: (row: InvalidRow) => void;
  /** Batches written at the same time (default 2). */
  concurrency?: number;
  /** Called after each batch is stored. */
  onProgress?: (report: ImportReport) => void;
}

/** A row longer than this is refused (no real subscriber row comes near it). */
const MAX_ROW_CHARS = 64 * 1024;
/**
 * The parser's own bound. RowLimiter already replaces every longer row, so it is never reached; it
 * stays as a second fence for memory.
 */
const MAX_RECORD_BUFFER = 1024 * 1024;
/** What RowLimiter puts in place of a row that is too long: no CSV row holds a NUL. */
const TOO_LONG = '\u0000row-too-long';

/**
 * Streams a CSV file into a list, a batch at a time, so memory stays flat whatever the file size.
 * The header row must name an `email` column (any case); `name` is optional and other columns are
 * ignored. A bad row is reported with its line number and skipped; it never costs its neighbours.
 * While one batch is being written the next one is parsed.
 */
export async function importSubscribers(
  repo: SubscribersRepository,
  input: Readable,
  target: { listId: number; status: 'pending' | 'confirmed' },
  options: ImportOptions = {},
): Promise<ImportReport> {
  const batchSize = options.batchSize ?? 5000;
  const concurrency = options.concurrency ?? 2;
  const report: ImportReport = { imported: 0, updated: 0, skipped: 0, invalid: 0, rows: 0 };
  const reject = (line: number, reason: string) => {
    report.invalid++;
    options.onInvalid?.({ line, reason });
  };

  const parser = parse({
    bom: true,
    columns: (header: string[]) => {
      const names = header.map((h) => h.trim().toLowerCase());
      if (!names.includes('email')) {
        throw invalid(
          'import.no_email_column',
          `the header row has no "email" column (found: ${names.filter(Boolean).join(', ') || 'nothing'})`,
        );
      }
      return names;
    },
    skip_empty_lines: true,
    relax_column_count: true,
    skip_records_with_error: true,
    max_record_size: MAX_RECORD_BUFFER,
    info: true,
  });
  parser.on('skip', (error: CsvError & { lines?: number }) => {
    report.rows++;
    reject(error.lines ?? 0, describeCsvError(error));
  });
  const limiter = new RowLimiter(MAX_ROW_CHARS);
  input.on('error', (error) => parser.destroy(error));
  limiter.on('error', (error) => parser.destroy(error));
  input.pipe(limiter).pipe(parser);

  // csv-parse counts a CRLF inside a quoted field as two lines; this puts the line numbers right.
  let extraLineBreaks = 0;
  let batch: ImportRow[] = [];
  // Two batches in flight (two connections): PostgreSQL works on one while the other and the parser
  // run, which uses both cores of a small machine. Batch writes are idempotent, so the rare deadlock
  // between two batches that share addresses is simply retried.
  const inFlight = new Set<Promise<void>>();
  const flush = async (rows: ImportRow[]) => {
    const counts = await withDeadlockRetry(() => repo.importBatch(rows, target.listId, target.status));
    report.imported += counts.imported;
    report.updated += counts.updated;
    report.skipped += counts.skipped;
    options.onProgress?.({ ...report });
  };

  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string | undefined>;
      info: { lines: number };
    }>) {
      report.rows++;
      let length = 0;
      for (const value of Object.values(record)) {
        if (value === undefined) continue;
        length += value.length;
        if (value.includes('\r\n')) extraLineBreaks += value.split('\r\n').length - 1;
      }
      const line = info.lines - extraLineBreaks;
      if (length > MAX_ROW_CHARS || Object.values(record)[0] === TOO_LONG) {
        reject(line, `row is longer than ${MAX_ROW_CHARS} characters`);
        continue;
      }
      const checked = checkEmail(record.email ?? '');
      if (!checked.ok) {
        reject(line, `${checked.reason}${record.email ? ` ("${clip(record.email)}")` : ''}`);
        continue;
      }
      batch.push({ email: checked.email, name: cleanName(record.name) });
      if (batch.length >= batchSize) {
        if (inFlight.size >= concurrency) await Promise.race(inFlight);
        const pending = flush(batch).finally(() => inFlight.delete(pending));
        pending.catch(() => {}); // handled below, through race/all; this keeps it from counting as unhandled
        inFlight.add(pending);
        batch = [];
      }
    }
  } catch (error) {
    await Promise.allSettled(inFlight);
    throw unwrapParseError(error);
  }
  if (batch.length > 0) {
    const last = flush(batch);
    inFlight.add(last);
  }
  await Promise.all(inFlight);
  return report;
}

/**
 * Replaces each CSV row longer than `limit` characters by one short TOO_LONG row, before the parser
 * sees it. The parser's own size limit reports an over-long row once per buffer's worth and then
 * reads the rest of that row as rows of its own, losing the valid row after it; here the row is
 * skipped whole, reported once, and the line numbers after it stay right (the line breaks inside
 * the dropped row are passed on as empty lines, which the parser counts and skips).
 *
 * Written by hand: it needs only where a row ends (a line break outside double quotes, where `""`
 * toggles twice), and csv-parse has no option that skips a row by its size.
 */
class RowLimiter extends Transform {
  private readonly decoder = new StringDecoder('utf8');
  private inQuotes = false;
  /** The current row, held until it ends or passes the limit. */
  private row = '';
  private dropping = false;
  private droppedLineBreaks = 0;

  constructor(private readonly limit: number) {
    super({ readableObjectMode: false, decodeStrings: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.scan(this.decoder.write(chunk));
    done();
  }

  override _flush(done: TransformCallback): void {
    this.scan(this.decoder.end());
    if (this.dropping) this.push(`${TOO_LONG}\n${'\n'.repeat(this.droppedLineBreaks)}`);
    else if (this.row !== '') this.push(this.row);
    done();
  }

  private scan(text: string): void {
    let out = '';
    let from = 0;
    const special = /["\n]/g;
    for (let match = special.exec(text); match; match = special.exec(text)) {
      const at = match.index;
      if (text[at] === '"') {
        this.inQuotes = !this.inQuotes;
        continue;
      }
      if (this.inQuotes) {
        if (this.dropping) this.droppedLineBreaks++;
        continue;
      }
      // The end of a row.
      this.hold(text.slice(from, at + 1), true);
      from = at + 1;
      if (this.dropping) {
        out += `${TOO_LONG}\n${'\n'.repeat(this.droppedLineBreaks)}`;
        this.dropping = false;
        this.droppedLineBreaks = 0;
      } else {
        out += this.row;
      }
      this.row = '';
    }
    this.hold(text.slice(from), false);
    if (out !== '') this.push(out);
  }

  private hold(part: string, endsRow: boolean): void {
    if (this.dropping) return;
    this.row += part;
    // + 2: the row's own line end (LF or CRLF) is not part of its length.
    if (this.row.length > this.limit + 2) {
      // Line breaks held inside quotes of this row are kept for the line count (not the row's own end).
      const held = endsRow ? this.row.slice(0, -1) : this.row;
      this.droppedLineBreaks = (held.match(/\n/g) ?? []).length;
      this.dropping = true;
      this.row = '';
    }
  }
}

async function withDeadlockRetry<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= 5 || (code !== '40P01' && code !== '40001')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt * Math.random()));
    }
  }
}

function clip(text: string): string {
  const flat = text.replace(/[\r\n]+/g, '\\n');
  return flat.length > 60 ? `${flat.slice(0, 60)}…` : flat;
}

function describeCsvError(error: CsvError): string {
  switch (error.code) {
    case 'CSV_MAX_RECORD_SIZE':
      return `row is longer than ${MAX_RECORD_BUFFER} characters`;
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field is never closed';
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return 'a quote is misplaced inside a field';
    default:
      return error.message.replace(/^Invalid Record Length: /, '').split(/[.:]/)[0] ?? 'row is not valid CSV';
  }
}

function unwrapParseError(error: unknown): unknown {
  // An error thrown from the `columns` callback reaches us wrapped by the parser.
  const inner = (error as { cause?: unknown }).cause;
  if (inner && typeof inner === 'object' && 'code' in inner && String(inner.code).startsWith('import.'))
    return inner;
  if (error instanceof CsvError) {
    return invalid(
      'import.csv_invalid',
      `the file is not valid CSV: ${describeCsvError(error)} (line ${error.lines ?? '?'})`,
    );
  }
  return error;
}
