// The bench's curves (bench/curves.ts) at tiny sizes against our real server, so that the curve code
// cannot rot: every curve yields its points with sane numbers, and the report (tables, SVG) has them.
import test from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, hostname, release } from 'node:os';
import { jain, runCurves, type CurveSizes } from '../bench/curves.js';
import { curvesSvg, curvesTable, type CurvesReport } from '../bench/curves-report.js';
import { startOurs } from '../bench/oursd.js';
import { cleanupDir, runCleanups } from '../bench/util.js';
import { keyPairFile } from './helpers/keys.js';
import { tempDir } from './helpers/proc.js';
import { needs } from './helpers/tools.js';

test("Jain's index: 1 when all equal, 1/n when one gets everything", () => {
  assert.equal(jain([3, 3, 3, 3]), 1);
  assert.equal(jain([5, 0, 0, 0]), 0.25);
  assert.ok(Math.abs(jain([1, 2]) - 0.9) < 1e-12);
});

const TINY: CurveSizes = {
  sessions: [1, 2],
  windowSecs: 1,
  idle: [1, 5],
  statBackground: [0, 2],
  statSecs: 1,
  homeFiles: [50, 300],
  smallPuts: 40,
  smallStats: 100,
  smallParallel: 8,
};

test(
  'the four curves run against our server and are reported',
  {
    skip: needs('sftp'),
    timeout: 120_000,
  },
  async (t) => {
    const work = tempDir('jailsftp-curves-test-');
    cleanupDir(work);
    t.after(runCleanups);
    const keyFile = join(work, 'key');
    keyPairFile(keyFile);
    const ours = await startOurs({ user: 'jsbench', password: 'curves-test-pw', keyFile });
    const rdir = 'bench.test';
    mkdirSync(join(ours.startDir, rdir));
    chownSync(join(ours.startDir, rdir), ours.uid, ours.gid);

    const r = await runCurves(
      { targets: [ours], fresh: (x, fn) => fn(x), work, rdir },
      TINY,
      () => true,
    );
    assert.deepEqual(r.failures, []);

    assert.deepEqual(
      r.throughput.map((p) => p.sessions),
      [1, 2],
    );
    for (const p of r.throughput) {
      assert.ok(p.aggregateMiBs > 0, `throughput ${p.sessions}: ${p.aggregateMiBs} MiB/s`);
      assert.ok(p.jain >= 1 / p.sessions && p.jain <= 1 + 1e-9, `Jain ${p.jain}`);
      assert.ok(p.minMiBs >= 0 && p.minMiBs <= p.maxMiBs);
    }
    assert.deepEqual(
      r.idle.map((p) => [p.sessions, p.processes]),
      [
        [1, 1],
        [5, 1],
      ],
    );
    for (const p of r.idle) assert.ok(p.rssMiB > 10 && p.pssMiB > 0, `idle ${JSON.stringify(p)}`);
    assert.deepEqual(
      r.stat.map((p) => p.background),
      [0, 2],
    );
    for (const p of r.stat) {
      assert.ok(p.count > 0 && p.errors === 0, `STATs ${JSON.stringify(p)}`);
      assert.ok(p.medianMs > 0 && p.medianMs <= p.p99Ms && p.p99Ms <= p.maxMs);
    }
    assert.ok(r.stat[1]!.backgroundMiBs > 0, 'the STATs ran while uploads moved data');
    assert.deepEqual(
      r.smallFiles.map((p) => [p.files, p.errors]),
      [
        [50, 0],
        [300, 0],
      ],
    );
    for (const p of r.smallFiles) assert.ok(p.putFilesPerSec > 0 && p.statsPerSec > 0);

    const report: CurvesReport = {
      date: new Date().toISOString(),
      host: {
        name: hostname(),
        cpus: cpus().length,
        cpuModel: 'test',
        memGiB: 1,
        kernel: release(),
      },
      loadavgStart: '0',
      loadavgEnd: '0',
      rt: false,
      quick: true,
      software: { ours: ours.software, client: 'test', node: process.version },
      cpuAccounting: {},
      ...r,
    };
    const svg = curvesSvg(report);
    assert.match(svg, /^<svg [^]*<\/svg>\n$/);
    for (const title of [
      'Concurrent sftp uploads',
      'Server memory, idle SFTP sessions',
      'STAT latency while others upload',
      '4 KiB files, one directory growing',
    ])
      assert.ok(svg.includes(title), title);
    assert.doesNotMatch(svg, /NaN|Infinity|not measured/);
    // ours: two series with points in each panel (8 paths; the STAT panel has three series)
    assert.equal((svg.match(/<path /g) ?? []).length, 9);
    const text = curvesTable(report);
    for (const h of [
      'concurrent sftp uploads',
      'idle authenticated',
      'STAT latency',
      '4 KiB files',
    ])
      assert.ok(text.includes(h), h);
  },
);
