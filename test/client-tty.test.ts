// The interactive ftp> client driven for real in a pseudo-terminal (tmux): host key question, password
// login, completion, progress bar, Ctrl-C back to ftp>, the resume question, history.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { needs } from './helpers/tools.js';
import { fixture } from './helpers/fixture.js';
import type { TestServer } from './helpers/server.js';
import { CLIENT, scratchHome } from './helpers/jailsftp.js';
import { randomFile, sha256File, sizeOf } from './helpers/files.js';

const SIZE = 200 * 1024 * 1024;
const fx = fixture();
let srv: TestServer | undefined;
const session = `jailsftp-client-${process.pid}`;

function tmux(...args: string[]): string {
  const r = spawnSync('tmux', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function screen(): string {
  return tmux('capture-pane', '-p', '-J', '-t', session, '-S', '-200');
}

async function waitScreen(re: RegExp, what: string, timeoutMs = 20000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const s = screen();
    if (re.test(s)) return s;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

before(async () => {
  if (needs('tmux')) return;
  srv = await fx.server();
  fx.defer(() => spawnSync('tmux', ['kill-session', '-t', session]));
});

test(
  'interactive session: trust, password, completion, progress, Ctrl-C, resume question',
  { skip: needs('tmux') },
  async (t) => {
    const s = srv!;
    const dave = s.addUser('dave', { password: 'correct horse' });
    mkdirSync(join(dave.home, 'subdir'), { recursive: true });
    const home = scratchHome(fixture(t));
    const sum = randomFile(join(home, 'big.bin'), SIZE);
    const cmd = `cd ${home} && env -u SSH_AUTH_SOCK -u JAILSFTP_PASSWORD HOME=${home} ${process.execPath} ${CLIENT} -P ${s.port} dave@127.0.0.1; echo EXIT=$?; sleep 60`;
    tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '40', cmd);

    await waitScreen(/Are you sure you want to continue connecting\?/, 'host key question');
    assert.match(screen(), /ED25519 key fingerprint is SHA256:/);
    tmux('send-keys', '-t', session, 'y', 'Enter');
    await waitScreen(/Password:/, 'password prompt');
    assert.match(screen(), /server 127\.0\.0\.1 connected/);
    tmux('send-keys', '-t', session, '-l', 'correct horse');
    tmux('send-keys', '-t', session, 'Enter');
    await waitScreen(/Login successful!\n(.*\n)*ftp> $/m, 'ftp> prompt');
    assert.doesNotMatch(screen(), /correct horse/);

    // completion of a remote directory name
    tmux('send-keys', '-t', session, '-l', 'cd subd');
    tmux('send-keys', '-t', session, 'Tab');
    await waitScreen(/ftp> cd subdir\/$/m, 'completed name');
    tmux('send-keys', '-t', session, 'Enter');
    await waitScreen(/^\/subdir$/m, 'cd output');

    // a transfer with its bar, stopped by Ctrl-C
    tmux('send-keys', '-t', session, '-l', 'put big.bin');
    tmux('send-keys', '-t', session, 'Enter');
    await waitScreen(
      /File sending: big\.bin \|.*\| \d+% \| [\d.]+ [KMG]i?B\/200 MiB \| .*\/s \| ETA/,
      'progress bar',
      30000,
    );
    tmux('send-keys', '-t', session, 'C-c');
    const afterStop = await waitScreen(/Interrupted\.\n(.*\n)*ftp> $/m, 'ftp> after Ctrl-C');
    assert.match(afterStop, /interrupted at \d+%: \/subdir\/big\.bin is partial/);
    const partial = sizeOf(join(dave.home, 'subdir/big.bin'));
    assert.ok(partial > 0 && partial < SIZE, `partial ${partial}`);

    // the same put asks what to do; the first choice resumes
    tmux('send-keys', '-t', session, '-l', 'put big.bin');
    tmux('send-keys', '-t', session, 'Enter');
    await waitScreen(/is partial: .* of 200 MiB \(\d+%\)\. What now\?/, 'resume question');
    assert.match(
      screen(),
      /Resume from where it stopped\n.*Overwrite from the start\n.*Skip this file/,
    );
    tmux('send-keys', '-t', session, 'Enter');
    await waitScreen(/big\.bin -> \/subdir\/big\.bin: .*sha256 verified/, 'verified resume', 60000);
    assert.match(screen(), /the remote part \(.*\) matches; resuming at \d+%/);
    assert.equal(sha256File(join(dave.home, 'subdir/big.bin')), sum);

    tmux('send-keys', '-t', session, '-l', 'quit');
    tmux('send-keys', '-t', session, 'Enter');
    await waitScreen(/EXIT=0/, 'exit status 0');
    const hist = readFileSync(join(home, '.jailsftp/history'), 'utf8');
    assert.equal(hist, 'cd subdir/\nput big.bin\nput big.bin\nquit\n');
  },
);
