// The config file is checked at every depth: an unknown key or a wrong type is refused with its path
// and exit status 2, before anything starts; `logFormat: "json"` makes the server's log lines JSON.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startServer } from './helpers/server.js';

function serveWith(
  config: unknown,
  extra: string[] = [],
): { status: number | null; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'jailsftp-config-'));
  try {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(config));
    const r = spawnSync(
      process.execPath,
      [CLI, 'serve', '--config', file, '--listen', '127.0.0.1:0', ...extra],
      { encoding: 'utf8', timeout: 20000, cwd: dir },
    );
    return { status: r.status, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a config typo at any depth is refused with its path and exit status 2', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ limits: { maxHandels: 5 } }, /unknown config key "limits\.maxHandels"/],
    [{ argon2: { timeCost: '3' } }, /"argon2\.timeCost" must be a number, not string "3"/],
    [{ limits: { idleTimeout: -1 } }, /"limits\.idleTimeout" must be a number of 0 or more/],
    [{ limits: 5 }, /"limits" must be an object, not number 5/],
    [{ allowSymlinks: 'yes' }, /"allowSymlinks" must be a boolean, not string "yes"/],
    [{ lisen: '127.0.0.1:22' }, /unknown config key "lisen"/],
    [{ logFormat: 'xml' }, /"logFormat" must be one of text, json, not string "xml"/],
    [{ homesIo: 'nfs' }, /"homesIo" must be one of auto, sync, pool, not string "nfs"/],
    [{ uploadDigests: 'sometimes' }, /"uploadDigests" must be one of auto, always, not string/],
  ];
  for (const [config, want] of cases) {
    const r = serveWith(config);
    assert.equal(r.status, 2, `${JSON.stringify(config)}: ${r.stderr}`);
    assert.match(r.stderr, want, JSON.stringify(config));
  }
  const bad = serveWith({}, ['--log-format', 'yaml']);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /"logFormat" must be one of text, json/);
});

test('logFormat json: every log line is one JSON object with time and event', async (t) => {
  const srv = await startServer({ config: { logFormat: 'json', limits: { maxHandles: 16 } } });
  t.after(async () => {
    await srv.stop();
    srv.cleanup();
  });
  const lines = srv
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'));
  assert.ok(lines.length >= 1, srv.output());
  const events = lines.map((l) => JSON.parse(l) as { time: string; event: string });
  for (const e of events) {
    assert.ok(!Number.isNaN(Date.parse(e.time)), JSON.stringify(e));
    assert.equal(typeof e.event, 'string');
  }
  const listening = events.find((e) => e.event === 'listening') as unknown as { homes: string };
  assert.equal(listening.homes, srv.homesDir);
});
