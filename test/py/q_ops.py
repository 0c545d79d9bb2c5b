"""Quota scenarios through paramiko. Usage: q_ops.py PORT USER PASSWORD SCENARIO [ARGS...]
Prints one JSON line per observation; the TypeScript test checks them against the disk."""
import os
import sys
import threading

import paramiko
from paramiko.message import Message
from paramiko.sftp import CMD_SETSTAT, CMD_FSETSTAT, CMD_CLOSE, CMD_WRITE, CMD_REMOVE

from q_lib import (connect, out, u64, request, status_of, extended, open_raw,
                   READ, WRITE, CREAT, TRUNC)

port, user, password, scenario = sys.argv[1:5]
rest = sys.argv[5:]
CHUNK = 32768


def payload(n, seed=0):
    return bytes((i * 7 + seed) & 0xFF for i in range(256)) * (n // 256) + b'\x00' * (n % 256)


def upload(sftp, path, size, seed=0):
    """Writes size bytes in 32 KiB writes, each acknowledged; returns (bytes acked, error text)."""
    data = payload(size, seed)
    done = 0
    err = None
    with sftp.open(path, 'wb') as f:
        f.set_pipelined(False)
        try:
            while done < size:
                n = min(CHUNK, size - done)
                f.write(data[done:done + n])
                done += n
        except IOError as e:
            err = str(e)
    return done, err


def free_of(sftp):
    rt, msg = extended(sftp, 'statvfs@openssh.com', '/')
    v = [msg.get_int64() for _ in range(11)]
    return v[4] * v[1], v[2] * v[1]


t, sftp = connect(port, user, password)

if scenario == 'upload':
    # upload NAME SIZE: one file, reports what was acknowledged and the error text
    done, err = upload(sftp, rest[0], int(rest[1]))
    out(name=rest[0], acked=done, error=err)

elif scenario == 'concurrent':
    # concurrent N SIZE: N sessions (transports) of this user at once, each uploading SIZE bytes
    n, size = int(rest[0]), int(rest[1])
    results = [None] * n
    go = threading.Barrier(n)

    def run(i):
        tt, s = connect(port, user, password)
        go.wait()
        results[i] = upload(s, 'conc%d.bin' % i, size, i)
        tt.close()

    th = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    [x.start() for x in th]
    [x.join() for x in th]
    for i, (done, err) in enumerate(results):
        out(name='conc%d.bin' % i, acked=done, error=err)

elif scenario == 'handles':
    # handles K SIZE: K write handles in one session, all writes sent before any reply is read
    k, size = int(rest[0]), int(rest[1])
    hs = [open_raw(sftp, 'h%d.bin' % i, WRITE | CREAT | TRUNC) for i in range(k)]
    data = payload(CHUNK)
    nums = []
    for off in range(0, size, CHUNK):
        for h in hs:
            nums.append(sftp._async_request(type(None), CMD_WRITE, h, u64(off), data))
    replies = {}
    while len(replies) < len(nums):
        rt, body = sftp._read_packet()
        msg = Message(body)
        num = msg.get_int()
        replies[num] = status_of(rt, msg)
    for h in hs:
        request(sftp, CMD_CLOSE, h)
    errors = [replies[x][1] for x in nums if replies[x][0] != 0]
    out(writes=len(nums), errors=len(errors), first=errors[0] if errors else None)

elif scenario == 'offset':
    # one byte at offset 2^40
    h = open_raw(sftp, 'sparse.bin', WRITE | CREAT)
    rt, msg = request(sftp, CMD_WRITE, h, u64(1 << 40), b'x')
    code, text = status_of(rt, msg)
    request(sftp, CMD_CLOSE, h)
    out(op='write@2^40', code=code, message=text)

elif scenario == 'refused':
    # a write refused at 64 KiB, then room made (seed removed): a write beyond it is still refused
    # (no hole), the refused one itself is accepted, and then the rest
    h = open_raw(sftp, 'up.bin', WRITE | CREAT)
    for at in (0, 65536):
        rt, msg = request(sftp, CMD_WRITE, h, u64(at), payload(65536))
        out(op='write@%d' % at, code=status_of(rt, msg)[0])
    rt, msg = request(sftp, CMD_REMOVE, 'seed')
    out(op='remove', code=status_of(rt, msg)[0])
    for at in (131072, 65536, 131072):
        rt, msg = request(sftp, CMD_WRITE, h, u64(at), payload(65536))
        code, text = status_of(rt, msg)
        out(op='write@%d' % at, code=code, message=text)
    request(sftp, CMD_CLOSE, h)

elif scenario == 'setstat':
    # SETSTAT and FSETSTAT size 2^40 on an existing file
    a = paramiko.SFTPAttributes()
    a.st_size = 1 << 40
    rt, msg = request(sftp, CMD_SETSTAT, rest[0], a)
    code, text = status_of(rt, msg)
    out(op='setstat', code=code, message=text)
    h = open_raw(sftp, rest[0], WRITE)
    rt, msg = request(sftp, CMD_FSETSTAT, h, a)
    code, text = status_of(rt, msg)
    request(sftp, CMD_CLOSE, h)
    out(op='fsetstat', code=code, message=text)

elif scenario == 'trunc':
    # trunc NAME SIZE: OPEN WRITE|CREAT|TRUNC of an existing file, then write SIZE bytes
    avail0, _ = free_of(sftp)
    h = open_raw(sftp, rest[0], WRITE | CREAT | TRUNC)
    avail1, _ = free_of(sftp)
    data = payload(int(rest[1]))
    codes = []
    for off in range(0, len(data), CHUNK):
        rt, msg = request(sftp, CMD_WRITE, h, u64(off), data[off:off + CHUNK])
        codes.append(status_of(rt, msg))
    request(sftp, CMD_CLOSE, h)
    bad = [c for c in codes if c[0] != 0]
    out(op='trunc', free_before=avail0, free_after_open=avail1, failures=len(bad),
        first=bad[0][1] if bad else None)

elif scenario == 'copy':
    # copy SRC DST: copy-data of the whole SRC into a new DST (length 0 = to the end)
    src = open_raw(sftp, rest[0], READ)
    dst = open_raw(sftp, rest[1], WRITE | CREAT | TRUNC)
    rt, msg = extended(sftp, 'copy-data', src, u64(0), u64(0), dst, u64(0))
    code, text = status_of(rt, msg)
    request(sftp, CMD_CLOSE, src)
    request(sftp, CMD_CLOSE, dst)
    out(op='copy-data', code=code, message=text)

elif scenario == 'rename':
    # rename FROM TO: posix-rename over an existing file
    rt, msg = extended(sftp, 'posix-rename@openssh.com', rest[0], rest[1])
    code, text = status_of(rt, msg)
    avail, size = free_of(sftp)
    out(op='posix-rename', code=code, message=text, free=avail)

elif scenario == 'remove':
    # remove NAME then upload NAME2 SIZE2 at once, in the same session
    rt, msg = request(sftp, CMD_REMOVE, rest[0])
    code, _ = status_of(rt, msg)
    avail, _ = free_of(sftp)
    done, err = upload(sftp, rest[1], int(rest[2]))
    out(op='remove', code=code, free=avail, acked=done, error=err)

elif scenario == 'free':
    avail, size = free_of(sftp)
    out(free=avail, size=size)

t.close()
