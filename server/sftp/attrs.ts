// File attributes as SFTP sends them (the `ls -l` style longname of READDIR is in common/format.ts).
import type { FileStats } from '../fs/storage.js';
import type { Attrs } from '../../common/wire.js';

export function attrsFromStats(st: FileStats): Attrs {
  return {
    size: st.size,
    uid: st.uid,
    gid: st.gid,
    permissions: st.mode,
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000),
  };
}
