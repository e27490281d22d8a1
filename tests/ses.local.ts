import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';

/**
 * A local SES v2 endpoint for tests: aws-ses-v2-local in its own process, and in front of it a small
 * HTTP proxy that records every SendEmail request SES accepted (the local SES keeps only a parsed
 * summary, not our raw headers, tags or configuration set) and injects faults: throttling on some
 * calls, and account or message errors for chosen recipients, answered the way SES answers them.
 */

const CLI = fileURLToPath(new URL('../node_modules/aws-ses-v2-local/dist/cli.js', import.meta.url));

export const MAX_SEND_RATE = 14;

export interface AcceptedSend {
  messageId: string;
  to: string[];
  configurationSet: string | undefined;
  tags: Record<string, string>;
  raw: string;
}

export interface LocalSesOptions {
  /** Answer 429 TooManyRequestsException to this call number (1-based) and on. */
  throttle?: (callNumber: number) => boolean;
  /** SES error names (e.g. MessageRejected) for recipients, by address. */
  errorsFor?: Record<string, string>;
}

export interface LocalSes {
  /** The proxy: what SES_ENDPOINT points at. */
  endpoint: string;
  accepted(): AcceptedSend[];
  throttled(): number;
  /** What the SES process itself stored (GET /store). */
  stored(): Promise<{ messageId: string; subject: string; destination: { to: string[] } }[]>;
  close(): Promise<void>;
}

export async function startLocalSes(options: LocalSesOptions = {}): Promise<LocalSes> {
  const child: ChildProcess = spawn(process.execPath, [CLI, '--host', '127.0.0.1', '--port', '0'], {
    env: {
      ...process.env,
      AWS_SES_ACCOUNT: JSON.stringify({
        DedicatedIpAutoWarmupEnabled: false,
        Details: {
          AdditionalContactEmailAddresses: [],
          ContactLanguage: 'EN',
          MailType: 'MARKETING',
          ReviewDetails: { CaseId: 'test', Status: 'GRANTED' },
          UseCaseDescription: 'newsletter',
          WebsiteURL: 'https://news.example.org',
        },
        EnforcementStatus: 'HEALTHY',
        ProductionAccessEnabled: true,
        SendingEnabled: true,
        SendQuota: { Max24HourSend: 50000, MaxSendRate: MAX_SEND_RATE, SentLast24Hours: 0 },
        SuppressionAttributes: { SuppressedReasons: [] },
      }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const upstreamPort = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`aws-ses-v2-local did not start: ${out}`)), 90_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const m = /server running at http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`aws-ses-v2-local exited with ${code}: ${out}`)));
  });

  const accepted: AcceptedSend[] = [];
  let calls = 0;
  let throttled = 0;
  const proxy: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const isSend = req.method === 'POST' && req.url === '/v2/email/outbound-emails';
      let parsed: {
        Destination?: { ToAddresses?: string[] };
        ConfigurationSetName?: string;
        EmailTags?: { Name: string; Value: string }[];
        Content?: { Raw?: { Data?: string } };
      } = {};
      if (isSend) {
        calls += 1;
        parsed = JSON.parse(body.toString('utf8'));
        if (options.throttle?.(calls)) {
          throttled += 1;
          return sesError(res, 429, 'TooManyRequestsException', 'Maximum sending rate exceeded.');
        }
        const to = parsed.Destination?.ToAddresses ?? [];
        const error = to.map((a) => options.errorsFor?.[a]).find(Boolean);
        if (error) return sesError(res, 400, error, `${error} for ${to.join(', ')}`);
      }
      const upstream = request(
        { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          const answer: Buffer[] = [];
          up.on('data', (c: Buffer) => answer.push(c));
          up.on('end', () => {
            const text = Buffer.concat(answer);
            if (isSend && up.statusCode === 200) {
              accepted.push({
                messageId: JSON.parse(text.toString('utf8')).MessageId,
                to: parsed.Destination?.ToAddresses ?? [],
                configurationSet: parsed.ConfigurationSetName,
                tags: Object.fromEntries((parsed.EmailTags ?? []).map((t) => [t.Name, t.Value])),
                raw: Buffer.from(parsed.Content?.Raw?.Data ?? '', 'base64').toString('utf8'),
              });
            }
            res.writeHead(up.statusCode ?? 502, up.headers).end(text);
          });
        },
      );
      upstream.on('error', (e) => res.writeHead(502).end(String(e)));
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as { port: number }).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    accepted: () => [...accepted],
    throttled: () => throttled,
    stored: async () => {
      const res = await fetch(`http://127.0.0.1:${upstreamPort}/store`);
      return ((await res.json()) as { emails: never[] }).emails;
    },
    close: async () => {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** How SES v2 (restJson) reports an error: the status, the type in a header and in the body. */
function sesError(
  res: import('node:http').ServerResponse,
  status: number,
  type: string,
  message: string,
): void {
  res
    .writeHead(status, {
      'content-type': 'application/json',
      'x-amzn-errortype': `${type}:http://internal.amazon.com/`,
    })
    .end(JSON.stringify({ message }));
}

/** The AWS credential chain's first link: environment variables (the local SES checks only that they exist). */
export const AWS_TEST_ENV = {
  AWS_ACCESS_KEY_ID: 'AKIDLOCALTEST',
  AWS_SECRET_ACCESS_KEY: 'local-test-secret',
  AWS_EC2_METADATA_DISABLED: 'true',
};
