import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './serve.ts';

/**
 * A real IMAP server for the tests: Debian's Dovecot (`dovecot-imapd`, installed by `.ci/run`), run
 * in its own process with its own configuration in a temporary folder, on a free port of 127.0.0.1,
 * with one mailbox user (passwd-file authentication, plain-text login allowed on loopback, mail in a
 * maildir in the same folder). It can be stopped and started again on the same port with the same
 * mail, as a mail server restarting would be.
 */
export interface TestDovecot {
  port: number;
  user: string;
  password: string;
  /** `imap://user:password@127.0.0.1:PORT/INBOX` */
  url: string;
  /** The user's maildir (Dovecot's own layout: INBOX in cur/ and new/, folders in .Name/). */
  maildir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its folder. */
  close(): Promise<void>;
}

const DOVECOT = '/usr/sbin/dovecot';

export async function startDovecot(options: { withoutIdle?: boolean } = {}): Promise<TestDovecot> {
  const dir = mkdtempSync(join(tmpdir(), 'dm-dovecot-'));
  // Dovecot's unprivileged processes must be able to reach the passwd file and the mail.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const user = 'bounces';
  const password = 'imap-test-pw-7f3a9c';
  const mailRoot = join(dir, 'mail');
  mkdirSync(mailRoot);
  const root = process.getuid?.() === 0;
  // As root, Dovecot drops to the mail user (nobody); as anyone else it runs as that user throughout.
  const mailUid = root ? 65534 : (process.getuid?.() ?? 0);
  const mailGid = root ? 65534 : (process.getgid?.() ?? 0);
  if (root) chownSync(mailRoot, mailUid, mailGid);
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, `${user}:{PLAIN}${password}\n`, { mode: 0o644 });
  const me = userInfo().username;
  const config = join(dir, 'dovecot.conf');
  writeFileSync(
    config,
    `
base_dir = ${join(dir, 'run')}
state_dir = ${join(dir, 'state')}
log_path = ${join(dir, 'dovecot.log')}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:${mailRoot}/%u
${root ? '' : `default_internal_user = ${me}\ndefault_login_user = ${me}\n`}${
  options.withoutIdle
    ? // The capability list Dovecot announces, without IDLE: a server that cannot push.
      'imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS MOVE NAMESPACE CHILDREN\n'
    : ''
}passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${passwd}
}
userdb {
  driver = static
  args = uid=${mailUid} gid=${mailGid} home=${mailRoot}/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
  chroot =
}
service anvil {
  chroot =
}
`,
  );

  let child: ChildProcess | undefined;
  let output = '';
  const start = async () => {
    output = '';
    child = spawn(DOVECOT, ['-c', config, '-F'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const exited = new Promise<never>((_, reject) =>
      child?.once('exit', (code) => reject(new Error(`dovecot exited with ${code}: ${output}`))),
    );
    await Promise.race([greeted(port, 90_000), exited]);
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    await gone;
  };
  await start();
  return {
    port,
    user,
    password,
    url: `imap://${user}:${password}@127.0.0.1:${port}/INBOX`,
    maildir: join(mailRoot, user),
    start,
    stop,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once the server answers a connection with its `* OK` greeting. */
async function greeted(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.setTimeout(2000);
      socket.once('data', (d) => {
        socket.destroy();
        resolve(d.toString().startsWith('* OK'));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`dovecot did not answer on port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
