import { request } from 'node:https';
import { AppError } from '../core/errors.ts';

export interface FetchOptions {
  /** Extra CA certificates to trust besides the system store (a local test server's CA). */
  ca?: string | Buffer;
  timeoutMs?: number;
  /** A larger answer is cut off with an error: a certificate or a confirmation is a few KB. */
  maxBytes?: number;
}

export interface FetchResult {
  status: number;
  body: string;
}

/**
 * A small GET over https for the two things SNS asks us to fetch (its signing certificate and a
 * SubscribeURL), with a timeout and a size cap so a slow or huge answer cannot hold a request open.
 * node:https (not fetch) because it takes a per-request CA, which lets tests trust a local server
 * without touching the process's trust store.
 */
export function fetchHttps(url: string, options: FetchOptions = {}): Promise<FetchResult> {
  const maxBytes = options.maxBytes ?? 256 * 1024;
  return new Promise((resolve, reject) => {
    const tlsOptions = options.ca === undefined ? {} : { ca: options.ca };
    const req = request(url, { method: 'GET', timeout: options.timeoutMs ?? 5000, ...tlsOptions }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          req.destroy();
          reject(unavailable(`${new URL(url).hostname} answered with more than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', (error) => reject(unavailable(`${new URL(url).hostname}: ${error.message}`, error)));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error) =>
      reject(unavailable(`cannot fetch from ${new URL(url).hostname}: ${error.message}`, error)),
    );
    req.end();
  });
}

/** Not the sender's fault and maybe passing: a 502 lets SNS retry later. */
function unavailable(message: string, cause?: unknown): AppError {
  return new AppError('webhooks.fetch_failed', message, { status: 502, exitCode: 1, cause });
}
