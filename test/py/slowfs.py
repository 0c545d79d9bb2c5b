#!/usr/bin/python3
"""A passthrough FUSE filesystem whose operations on one directory name hang while a control file
exists: a stand-in for a hung NFS or CephFS directory (test/slow-home.test.ts).

usage: slowfs.py SOURCE MOUNTPOINT HUNG_NAME CONTROL_FILE

Every operation on a path with a component named HUNG_NAME (the directory and everything in it,
also reads and writes through handles opened there) waits, without answering the kernel, for as
long as CONTROL_FILE exists. Everything else passes straight to SOURCE. Runs in the foreground,
multithreaded (a hung operation does not hold back the others); kernel caches are off, so that
every lookup and stat reaches this process.
"""
import errno
import os
import sys
import threading
import time

from fusepy import FUSE, FuseOSError, Operations


class SlowFs(Operations):
    def __init__(self, source, hung, control):
        self.source = os.path.realpath(source)
        self.hung = hung
        self.control = control
        self.fh_paths = {}
        self.mutex = threading.Lock()

    def _real(self, path):
        return os.path.join(self.source, path.lstrip('/'))

    def _wait(self, path):
        if self.hung in path.split('/'):
            while os.path.exists(self.control):
                time.sleep(0.02)

    def _wait_fh(self, fh):
        with self.mutex:
            path = self.fh_paths.get(fh, '')
        self._wait(path)

    def __call__(self, op, path, *args):
        if path is not None:
            self._wait(path)
        try:
            return super().__call__(op, path, *args)
        except OSError as e:
            raise FuseOSError(e.errno or errno.EIO)

    # names and attributes
    def access(self, path, mode):
        if not os.access(self._real(path), mode, follow_symlinks=False):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        st = os.lstat(self._real(path))
        return {k: getattr(st, k) for k in (
            'st_mode', 'st_nlink', 'st_uid', 'st_gid', 'st_size',
            'st_atime', 'st_mtime', 'st_ctime', 'st_ino')}

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self._real(path))

    def readlink(self, path):
        return os.readlink(self._real(path))

    def mkdir(self, path, mode):
        os.mkdir(self._real(path), mode)

    def rmdir(self, path):
        os.rmdir(self._real(path))

    def unlink(self, path):
        os.unlink(self._real(path))

    def symlink(self, target, source):
        os.symlink(source, self._real(target))

    def link(self, target, source):
        os.link(self._real(source), self._real(target))

    def rename(self, old, new):
        self._wait(new)
        os.rename(self._real(old), self._real(new))

    def chmod(self, path, mode):
        os.chmod(self._real(path), mode, follow_symlinks=False)

    def chown(self, path, uid, gid):
        os.lchown(self._real(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._real(path), times=times, follow_symlinks=False)

    def statfs(self, path):
        s = os.statvfs(self._real(path))
        return {k: getattr(s, k) for k in (
            'f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail', 'f_ffree', 'f_files',
            'f_flag', 'f_frsize', 'f_namemax')}

    # files
    def _opened(self, path, fd):
        with self.mutex:
            self.fh_paths[fd] = path
        return fd

    def open(self, path, flags):
        return self._opened(path, os.open(self._real(path), flags))

    def create(self, path, mode, fi=None):
        return self._opened(path, os.open(self._real(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode))

    def read(self, path, size, offset, fh):
        self._wait_fh(fh)
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._wait_fh(fh)
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        if fh is not None:
            self._wait_fh(fh)
            os.ftruncate(fh, length)
        else:
            os.truncate(self._real(path), length)

    def flush(self, path, fh):
        self._wait_fh(fh)

    def fsync(self, path, datasync, fh):
        self._wait_fh(fh)
        os.fsync(fh)

    def release(self, path, fh):
        self._wait_fh(fh)
        with self.mutex:
            self.fh_paths.pop(fh, None)
        os.close(fh)


def main():
    source, mountpoint, hung, control = sys.argv[1:5]
    FUSE(SlowFs(source, hung, control), mountpoint, foreground=True, nothreads=False,
         attr_timeout=0, entry_timeout=0, negative_timeout=0, use_ino=True, allow_other=True)


if __name__ == '__main__':
    main()
