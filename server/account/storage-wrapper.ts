// A Storage that hands every operation to the storage it wraps: the base of the account layer's
// wrappers (permissions, events, bandwidth), each of which overrides only what it changes.
import type { Capability, Storage } from '../fs/storage.js';

type Args<K extends keyof Storage> = Parameters<NonNullable<Storage[K]>>;

export class StorageWrapper implements Storage {
  constructor(protected readonly inner: Storage) {}

  open(...a: Args<'open'>) {
    return this.inner.open(...a);
  }
  read(...a: Args<'read'>) {
    return this.inner.read(...a);
  }
  write(...a: Args<'write'>) {
    return this.inner.write(...a);
  }
  fstat(...a: Args<'fstat'>) {
    return this.inner.fstat(...a);
  }
  fsetstat(...a: Args<'fsetstat'>) {
    return this.inner.fsetstat(...a);
  }
  fsync(...a: Args<'fsync'>) {
    return this.inner.fsync(...a);
  }
  close(...a: Args<'close'>) {
    return this.inner.close(...a);
  }
  opendir(...a: Args<'opendir'>) {
    return this.inner.opendir(...a);
  }
  readdir(...a: Args<'readdir'>) {
    return this.inner.readdir(...a);
  }
  closedir(...a: Args<'closedir'>) {
    return this.inner.closedir(...a);
  }
  stat(...a: Args<'stat'>) {
    return this.inner.stat(...a);
  }
  lstat(...a: Args<'lstat'>) {
    return this.inner.lstat(...a);
  }
  setstat(...a: Args<'setstat'>) {
    return this.inner.setstat(...a);
  }
  remove(...a: Args<'remove'>) {
    return this.inner.remove(...a);
  }
  mkdir(...a: Args<'mkdir'>) {
    return this.inner.mkdir(...a);
  }
  rmdir(...a: Args<'rmdir'>) {
    return this.inner.rmdir(...a);
  }
  rename(...a: Args<'rename'>) {
    return this.inner.rename(...a);
  }
  realpath(...a: Args<'realpath'>) {
    return this.inner.realpath(...a);
  }
  readlink(...a: Args<'readlink'>) {
    return this.inner.readlink(...a);
  }
  symlink(...a: Args<'symlink'>) {
    return this.inner.symlink(...a);
  }
  statvfs(...a: Args<'statvfs'>) {
    return this.inner.statvfs(...a);
  }
  openRead(...a: Args<'openRead'>) {
    return this.inner.openRead(...a);
  }
  hash(...a: Args<'hash'>) {
    return this.inner.hash(...a);
  }
  copy(...a: Args<'copy'>) {
    return this.inner.copy(...a);
  }
  offers(cap: Capability): boolean {
    return this.inner.offers ? this.inner.offers(cap) : true;
  }
}
