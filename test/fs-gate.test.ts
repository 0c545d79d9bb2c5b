// The gate of homes' filesystem calls (server/fs/gate.ts), with calls that hang until released:
// a hung home holds at most PER_HOME calls and its others wait in order; other homes go on at
// once; all homes together never hold more than TOTAL; a waiting call starts when a slot frees.
import { test } from 'node:test';
import assert from 'node:assert/strict';

// the server's pool (server/threadpool.ts), read by gate.ts when it loads
process.env.UV_THREADPOOL_SIZE = '16';
const { gateLoad, PER_HOME, runIn, TOTAL } = await import('../server/fs/gate.js');

/** A call that hangs until release(); `started` tells whether the gate let it run. */
function hanging() {
  let release: () => void = () => undefined;
  const c = {
    started: false,
    release: () => release(),
    fn: () => {
      c.started = true;
      return new Promise<void>((r) => (release = r));
    },
  };
  return c;
}

const tick = () => new Promise((r) => setImmediate(r));

test('a hung home holds at most PER_HOME calls; other homes go on', async () => {
  const calls = Array.from({ length: PER_HOME + 3 }, hanging);
  const done = calls.map((c) => runIn('/homes/hung', c.fn));
  await tick();
  assert.deepEqual(
    calls.map((c) => c.started),
    calls.map((_, i) => i < PER_HOME),
  );
  assert.deepEqual(gateLoad(), { running: PER_HOME, waiting: 3 });

  // another home's call runs at once
  assert.equal(await runIn('/homes/fine', async () => 42), 42);

  // a slot of the hung home frees: its first waiting call starts, in order
  calls[0]!.release();
  await done[0];
  await tick();
  assert.equal(calls[PER_HOME]!.started, true);
  assert.equal(calls[PER_HOME + 1]!.started, false);
  for (const c of calls) c.release();
  for (let i = 0; i < 10; i++) {
    await tick();
    for (const c of calls) c.release();
  }
  await Promise.all(done);
  assert.deepEqual(gateLoad(), { running: 0, waiting: 0 });
});

test('all homes together hold at most TOTAL calls; a freed slot goes to a waiting home', async () => {
  const homes = Math.ceil(TOTAL / PER_HOME) + 1;
  const calls: ReturnType<typeof hanging>[] = [];
  const done: Promise<void>[] = [];
  for (let h = 0; h < homes; h++) {
    for (let i = 0; i < PER_HOME; i++) {
      const c = hanging();
      calls.push(c);
      done.push(runIn(`/homes/h${h}`, c.fn));
    }
  }
  await tick();
  assert.equal(calls.filter((c) => c.started).length, TOTAL);
  const waiting = calls.find((c) => !c.started)!;
  calls.find((c) => c.started)!.release();
  await tick();
  await tick();
  assert.equal(waiting.started, true);
  for (let i = 0; i < 10; i++) {
    for (const c of calls) c.release();
    await tick();
  }
  await Promise.all(done);
  assert.deepEqual(gateLoad(), { running: 0, waiting: 0 });
});

test('a call that throws at once frees its slot', async () => {
  for (let i = 0; i < PER_HOME + 2; i++) {
    await assert.rejects(
      runIn('/homes/x', () => {
        throw new Error('boom');
      }),
      /boom/,
    );
  }
  assert.deepEqual(gateLoad(), { running: 0, waiting: 0 });
});
