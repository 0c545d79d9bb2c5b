// Connection lifetime, soak: one SSH connection opens and closes 10,000 SFTP channels (15-30 s);
// see channels.test.ts for the 3,000-channel version in the normal suite and the bound.
import test, { after, before } from 'node:test';
import { startServer, type TestServer, type TestUser } from './helpers/server.js';
import { channelsStayFlat } from './helpers/channels.js';

let srv: TestServer;
let u: TestUser;

before(async () => {
  srv = await startServer({ config: { limits: { maxSessionsPerUser: 4 } } });
  u = srv.addUser('lena');
});
after(async () => {
  await srv.stop();
  srv.cleanup();
});

test('10,000 SFTP channels on one connection: flat server memory, slots back, still usable', async () => {
  await channelsStayFlat(srv, u, { channels: 10_000, boundMiB: 12, maxSessions: 4 });
});
