// Upload hooks (issue 13) with OpenSSH sftp: a command hook's JAILSFTP_* environment after put,
// rename and rm; a webhook receiving the event as JSON (retried after a 500); a hanging hook killed
// at hooks.timeout while uploads go on at full speed (hooks added by SIGHUP); a failing hook logged.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fixture } from './helpers/fixture.js';
import { CLI } from './helpers/server.js';
import { run, sleep } from './helpers/proc.js';
import { sftpBatch } from './helpers/clients.js';
import { randomFile, sha256File } from './helpers/files.js';
import { needs } from './helpers/tools.js';

async function waitFor<T>(what: string, probe: () => T | undefined | false, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The JAILSFTP_* variables a hook script wrote (NAME=value lines), once its file is complete. */
function envFile(path: string): Record<string, string> | undefined {
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8');
  if (!text.endsWith('END\n')) return undefined;
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (line.startsWith('JAILSFTP_') && i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** A hook script writing its environment to OUT/EVENT.env (written, then renamed: never half). */
function envScript(dir: string): { script: string; out: string } {
  const out = join(dir, 'hook-out');
  mkdirSync(out);
  const script = join(dir, 'hook.sh');
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      'f="$1/$JAILSFTP_EVENT.env"',
      '{ env | grep "^JAILSFTP_" | sort; echo END; } > "$f.tmp"',
      'mv "$f.tmp" "$f"',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  return { script, out };
}

test(
  'command hooks: upload, rename and remove with every JAILSFTP_ variable',
  { skip: needs('sftp') },
  async (t) => {
    const fx = fixture(t);
    const dir = fx.tempDir('jailsftp-hooks-');
    const { script, out } = envScript(dir);
    const argv = [script, out];
    const srv = await fx.server({
      users: { hana: { key: true, home: true } },
      config: { hooks: { upload: argv, rename: argv, remove: argv } },
    });
    const u = srv.users.hana;
    const home = realpathSync(u.home);
    const size = 3 * 1024 * 1024 + 11;
    const sum = randomFile(join(dir, 'a.bin'), size);
    const put = await sftpBatch(srv, u, 'put a.bin', { cwd: dir });
    assert.equal(put.status, 0, put.stderr);
    const up = await waitFor('upload hook', () => envFile(join(out, 'upload.env')));
    assert.deepEqual(up, {
      JAILSFTP_ADDR: '127.0.0.1',
      JAILSFTP_EVENT: 'upload',
      JAILSFTP_FILE: join(home, 'a.bin'),
      JAILSFTP_PATH: '/a.bin',
      JAILSFTP_SHA256: sum,
      JAILSFTP_SIZE: String(size),
      JAILSFTP_USER: 'hana',
    });
    assert.equal(sha256File(up.JAILSFTP_FILE!), sum, 'the real file is the upload');

    const more = await sftpBatch(srv, u, 'mkdir d\nrename a.bin d/b.bin\nrm d/b.bin', { cwd: dir });
    assert.equal(more.status, 0, more.stderr);
    const ren = await waitFor('rename hook', () => envFile(join(out, 'rename.env')));
    assert.deepEqual(ren, {
      JAILSFTP_ADDR: '127.0.0.1',
      JAILSFTP_EVENT: 'rename',
      JAILSFTP_FILE: join(home, 'a.bin'),
      JAILSFTP_PATH: '/a.bin',
      JAILSFTP_TARGET: '/d/b.bin',
      JAILSFTP_TARGET_FILE: join(home, 'd/b.bin'),
      JAILSFTP_USER: 'hana',
    });
    const rm = await waitFor('remove hook', () => envFile(join(out, 'remove.env')));
    assert.deepEqual(rm, {
      JAILSFTP_ADDR: '127.0.0.1',
      JAILSFTP_EVENT: 'remove',
      JAILSFTP_FILE: join(home, 'd/b.bin'),
      JAILSFTP_PATH: '/d/b.bin',
      JAILSFTP_USER: 'hana',
    });
    assert.doesNotMatch(srv.output(), /hook\.(failed|timeout|dropped)/);
  },
);

test(
  'webhook: the event as JSON by POST, retried after a 500',
  { skip: needs('sftp') },
  async (t) => {
    const fx = fixture(t);
    const got: { body: Record<string, unknown>; type: string; at: number }[] = [];
    const http = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        got.push({
          body: JSON.parse(body) as Record<string, unknown>,
          type: req.headers['content-type'] ?? '',
          at: Date.now(),
        });
        res.statusCode = got.length === 1 ? 500 : 204;
        res.end();
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    fx.defer(() => new Promise((r) => http.close(r)));
    const addr = http.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const srv = await fx.server({
      users: { ines: { key: true, home: true } },
      config: { hooks: { uploadUrl: `http://127.0.0.1:${port}/hook` } },
    });
    const u = srv.users.ines;
    const dir = fx.tempDir();
    const sum = randomFile(join(dir, 'w.bin'), 100_000);
    const before = Date.now();
    const put = await sftpBatch(srv, u, 'put w.bin', { cwd: dir });
    assert.equal(put.status, 0, put.stderr);
    await waitFor('two webhook requests', () => got.length >= 2);
    await sleep(1500); // no third request: the second answer was a success
    assert.equal(got.length, 2);
    assert.deepEqual(got[0]!.body, got[1]!.body, 'the retry sends the same event');
    assert.equal(got[0]!.type, 'application/json');
    assert.ok(got[1]!.at - got[0]!.at >= 400, 'the retry waits (backoff)');
    const b = got[0]!.body;
    assert.ok(Date.parse(b.time as string) >= before - 1000, String(b.time));
    assert.deepEqual(
      { ...b, time: undefined },
      {
        event: 'upload',
        user: 'ines',
        path: '/w.bin',
        file: join(realpathSync(u.home), 'w.bin'),
        size: 100_000,
        sha256: sum,
        addr: '127.0.0.1',
        time: undefined,
      },
    );
    assert.doesNotMatch(srv.output(), /hook\.failed/);
  },
);

test(
  'a hanging hook is killed at hooks.timeout and uploads go on at full speed (added by SIGHUP)',
  { skip: needs('sftp') },
  async (t) => {
    const fx = fixture(t);
    const srv = await fx.server({ users: { jo: { key: true, home: true } } });
    const u = srv.users.jo;
    const dir = fx.tempDir();
    const size = 16 * 1024 * 1024;
    const sum = randomFile(join(dir, 'big.bin'), size);
    const timed = async (): Promise<number> => {
      const start = Date.now();
      const r = await sftpBatch(srv, u, 'put big.bin', { cwd: dir });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(sha256File(join(u.home, 'big.bin')), sum);
      return Date.now() - start;
    };
    const baseline = await timed();
    // the hook: a shell that sleeps a minute (a unique figure: its processes can be found)
    const mark = `60.${randomBytes(4).readUInt32BE()}`;
    const cfg = JSON.parse(readFileSync(srv.configFile, 'utf8')) as Record<string, unknown>;
    cfg.hooks = { upload: ['/bin/sh', '-c', `sleep ${mark}; echo done`], timeout: 1 };
    writeFileSync(srv.configFile, JSON.stringify(cfg));
    srv.proc.kill('SIGHUP');
    await waitFor('reload', () => /\breload\b/.test(srv.output()));
    const withHooks = [await timed(), await timed(), await timed()];
    // three hooks started (concurrency 4): none has blocked a transfer
    assert.ok(
      Math.max(...withHooks) < baseline * 3 + 1500,
      `uploads ${withHooks.join(', ')} ms with a hanging hook, ${baseline} ms without`,
    );
    await waitFor('three hook.timeout', () => srv.output().match(/hook\.timeout/g)?.length === 3);
    assert.match(srv.output(), /hook\.timeout event=upload user=jo path=\/big\.bin/);
    // the hooks' processes are gone, sleep included (the whole process group is killed)
    let left = '';
    for (let i = 0; i < 50; i++) {
      left = (await run('ps', ['-eo', 'args'])).stdout
        .split('\n')
        .filter((l) => l.includes(mark))
        .join('\n');
      if (!left) break;
      await sleep(100);
    }
    assert.equal(left, '', 'hook processes still running');
  },
);

test('a failing hook is logged; the transfer is fine', { skip: needs('sftp') }, async (t) => {
  const fx = fixture(t);
  const srv = await fx.server({
    users: { kim: { key: true, home: true } },
    config: { hooks: { upload: ['/bin/sh', '-c', 'echo hook broke >&2; exit 1'] } },
  });
  const u = srv.users.kim;
  const dir = fx.tempDir();
  const sum = randomFile(join(dir, 'f.bin'), 200_000);
  const put = await sftpBatch(srv, u, 'put f.bin\nls -l f.bin', { cwd: dir });
  assert.equal(put.status, 0, put.stderr);
  assert.equal(sha256File(join(u.home, 'f.bin')), sum);
  const line = await waitFor(
    'hook.failed',
    () => /hook\.failed [^\n]*/.exec(srv.output())?.[0] ?? undefined,
  );
  assert.match(line, /event=upload user=kim path=\/f\.bin command=\/bin\/sh exit=1 /);
  assert.match(line, /stderr="hook broke"/);
  // a missing command is logged too, and the server keeps serving
  const cfg = JSON.parse(readFileSync(srv.configFile, 'utf8')) as Record<string, unknown>;
  cfg.hooks = { upload: [join(dir, 'no-such-hook')] };
  writeFileSync(srv.configFile, JSON.stringify(cfg));
  srv.proc.kill('SIGHUP');
  await waitFor('reload', () => /\breload\b/.test(srv.output()));
  const again = await sftpBatch(srv, u, 'put f.bin g.bin', { cwd: dir });
  assert.equal(again.status, 0, again.stderr);
  await waitFor('hook.failed ENOENT', () => /hook\.failed [^\n]*ENOENT/.test(srv.output()));
  assert.equal(sha256File(join(u.home, 'g.bin')), sum);
});

test('hook settings are checked: an argv must be an array of strings', (t) => {
  const dir = fixture(t).tempDir();
  const cases: [unknown, RegExp][] = [
    [{ upload: '/bin/true' }, /"hooks\.upload" must be an array of strings, not string/],
    [{ remove: ['/bin/echo', 3] }, /"hooks\.remove\[1\]": not a string: number 3/],
    [{ uploadURL: 'http://x' }, /unknown config key "hooks\.uploadURL"/],
    [{ timeout: '5' }, /"hooks\.timeout" must be a number/],
  ];
  for (const [hooks, want] of cases) {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ hooks }));
    const r = spawnSync(
      process.execPath,
      [CLI, 'serve', '--config', file, '--listen', '127.0.0.1:0'],
      { encoding: 'utf8', timeout: 20000, cwd: dir },
    );
    assert.equal(r.status, 2, `${JSON.stringify(hooks)}: ${r.stderr}`);
    assert.match(r.stderr, want);
  }
});

test('a full hook queue drops new runs, counted and logged', { skip: needs('sftp') }, async (t) => {
  const fx = fixture(t);
  const srv = await fx.server({
    users: { lea: { key: true, home: true } },
    config: {
      hooks: { upload: ['/bin/sh', '-c', 'sleep 30'], timeout: 5, concurrency: 1, queue: 1 },
    },
  });
  const u = srv.users.lea;
  const dir = fx.tempDir();
  const sum = randomFile(join(dir, 'q.bin'), 10_000);
  // one hook runs (it hangs), one waits, the next two find the queue full
  const cmds = ['q1', 'q2', 'q3', 'q4'].map((n) => `put q.bin ${n}.bin`).join('\n');
  const r = await sftpBatch(srv, u, cmds, { cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  for (const n of ['q1', 'q2', 'q3', 'q4']) assert.equal(sha256File(join(u.home, `${n}.bin`)), sum);
  const dropped = await waitFor('two hook.dropped', () => {
    const m = srv.output().match(/hook\.dropped [^\n]*/g);
    return m && m.length >= 2 ? m : undefined;
  });
  assert.equal(dropped.length, 2, dropped.join('\n'));
  assert.match(dropped[0]!, /event=upload user=lea path=\/q3\.bin total=1/);
  assert.match(dropped[1]!, /path=\/q4\.bin total=2/);
});
