// Connection lifetime, soak: one SSH connection opens and closes 10,000 SFTP channels (15-30 s);
// see channels.test.ts for the 3,000-channel version in the normal suite and the bound.
import { channelsTest } from './helpers/channels.js';

channelsTest(10_000);
