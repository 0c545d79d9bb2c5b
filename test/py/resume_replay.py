"""Replays of GUI clients' upload sequences through paramiko.
Usage: resume_replay.py PORT USER PASSWORD MODE LOCAL REMOTE [ARG]
  winscp LOCAL REMOTE [CUT]   WinSCP: REMOTE.filepart opened WRITE|CREAT (no TRUNC/APPEND), written
                              from its current size; with CUT, stops after CUT bytes and drops the
                              connection without CLOSE; without, finishes: CLOSE, REMOVE REMOTE,
                              RENAME, SETSTAT times+permissions
  filezilla LOCAL REMOTE [CUT] FileZilla: OPEN WRITE (CREAT for a new file), FSTAT, write from the size
  ranges LOCAL REMOTE N       N connections, each opening REMOTE WRITE|CREAT and writing its own range
"""
import os
import sys
import threading

import paramiko
from paramiko.sftp import CMD_WRITE, CMD_CLOSE, CMD_FSTAT, CMD_ATTRS, CMD_REMOVE, CMD_RENAME, CMD_SETSTAT

from q_lib import connect, out, u64, request, status_of, open_raw, WRITE, CREAT

port, user, password, mode, local, remote = sys.argv[1:7]
arg = int(sys.argv[7]) if len(sys.argv) > 7 else None
CHUNK = 32768
data = open(local, 'rb').read()


def fstat_size(sftp, h):
    rt, msg = request(sftp, CMD_FSTAT, h)
    assert rt == CMD_ATTRS, rt
    return paramiko.SFTPAttributes._from_msg(msg).st_size


def write_from(sftp, h, start, stop):
    """Writes data[start:stop] in 32 KiB WRITEs, each acknowledged."""
    for off in range(start, stop, CHUNK):
        rt, msg = request(sftp, CMD_WRITE, h, u64(off), data[off:min(off + CHUNK, stop)])
        code, text = status_of(rt, msg)
        if code != 0:
            raise IOError(code, text)


def ok(rt, msg, what):
    code, text = status_of(rt, msg)
    if code != 0:
        raise IOError(code, '%s: %s' % (what, text))


t, sftp = connect(port, user, password)

if mode == 'winscp':
    part = remote + '.filepart'
    h = open_raw(sftp, part, WRITE | CREAT)
    start = fstat_size(sftp, h)
    stop = len(data) if arg is None else min(len(data), arg)
    write_from(sftp, h, start, stop)
    if arg is not None:
        out(mode=mode, resumed_from=start, sent=stop - start, cut=True)
        t.sock.close()  # dropped, no CLOSE: the partial file must stay
        os._exit(0)
    ok(*request(sftp, CMD_CLOSE, h), 'close')
    try:
        sftp.stat(remote)
        ok(*request(sftp, CMD_REMOVE, remote), 'remove')
    except FileNotFoundError:
        pass
    ok(*request(sftp, CMD_RENAME, part, remote), 'rename')
    a = paramiko.SFTPAttributes()
    a.st_mode = 0o640
    a.st_atime = 1500000000
    a.st_mtime = 1600000000
    ok(*request(sftp, CMD_SETSTAT, remote, a), 'setstat')
    out(mode=mode, resumed_from=start, sent=len(data) - start, size=len(data))

elif mode == 'filezilla':
    try:
        h = open_raw(sftp, remote, WRITE)
    except IOError:
        h = open_raw(sftp, remote, WRITE | CREAT)
    start = fstat_size(sftp, h)
    stop = len(data) if arg is None else min(len(data), arg)
    write_from(sftp, h, start, stop)
    if arg is not None:
        out(mode=mode, resumed_from=start, sent=stop - start, cut=True)
        t.sock.close()
        os._exit(0)
    ok(*request(sftp, CMD_CLOSE, h), 'close')
    out(mode=mode, resumed_from=start, sent=len(data) - start, size=len(data))

elif mode == 'ranges':
    n = arg or 4
    size = len(data)
    bounds = [(i * size // n, (i + 1) * size // n) for i in range(n)]
    errs = []

    def one(lo, hi):
        try:
            tt, s = connect(port, user, password)
            h = open_raw(s, remote, WRITE | CREAT)
            write_from(s, h, lo, hi)
            ok(*request(s, CMD_CLOSE, h), 'close')
            tt.close()
        except Exception as e:  # noqa
            errs.append(repr(e))

    th = [threading.Thread(target=one, args=b) for b in bounds]
    [x.start() for x in th]
    [x.join() for x in th]
    out(mode=mode, connections=n, errors=errs)

t.close()
