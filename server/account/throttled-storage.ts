// The user's storage with their bandwidth limits: a WRITE waits for upload tokens before its data
// lands, a READ waits for download tokens after the disk read and before its data is returned. The
// waiting request holds its buffer and its place among the session's pending requests (at most 64,
// bounded by the SFTP engine), so a limited client fills that queue, the engine stops reading the
// channel and SSH flow control stops the client: backpressure, never a growing buffer. Everything
// else (listings, names, hashes, server-side copies: no bytes cross the network) passes unchanged.
import type { Storage, StoredFile } from '../fs/storage.js';
import { StorageWrapper } from './storage-wrapper.js';
import type { UserRates } from './rates.js';

export class ThrottledStorage extends StorageWrapper {
  constructor(
    inner: Storage,
    private readonly rates: UserRates,
    /** whose waiting requests these are (RateRegistry.cancel at logout) */
    private readonly owner: object,
  ) {
    super(inner);
  }

  override write(file: StoredFile, offset: number, data: Buffer): Promise<void> {
    const wait = this.rates.upload.take(data.length, this.owner);
    return wait
      ? wait.then(() => this.inner.write(file, offset, data))
      : this.inner.write(file, offset, data);
  }

  override async read(
    file: StoredFile,
    offset: number,
    length: number,
    into: Buffer,
    at: number,
  ): Promise<number> {
    const n = await this.inner.read(file, offset, length, into, at);
    const wait = this.rates.download.take(n, this.owner);
    if (wait) await wait;
    return n;
  }
}
