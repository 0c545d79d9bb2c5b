"""Extensions through raw paramiko packets. Usage: ext_ops.py PORT USER PASSWORD SCENARIO [ARGS...]"""
import hashlib
import struct
import sys
import threading
import time

import paramiko
from paramiko.message import Message
from paramiko.sftp import CMD_INIT, CMD_VERSION, CMD_CLOSE, CMD_EXTENDED_REPLY, CMD_NAME, CMD_STATUS

from q_lib import connect, out, u64, request, status_of, extended, open_raw, READ, WRITE, CREAT

port, user, password, scenario = sys.argv[1:5]
rest = sys.argv[5:]


def reply(rt, msg):
    """A status as {code, message}, or the reply message."""
    if rt == CMD_STATUS:
        code, text = status_of(rt, msg)
        return {'code': code, 'message': text}
    return None


def check_file(sftp, by_handle, target, algs, offset, length, block):
    if by_handle:
        h = open_raw(sftp, target, READ)
        rt, msg = extended(sftp, 'check-file-handle', h, algs, u64(offset), u64(length), block)
        request(sftp, CMD_CLOSE, h)
    else:
        rt, msg = extended(sftp, 'check-file-name', target, algs, u64(offset), u64(length), block)
    st = reply(rt, msg)
    if st:
        return st
    assert rt == CMD_EXTENDED_REPLY, rt
    name = msg.get_text()
    alg = msg.get_text()
    rest_ = msg.get_remainder()
    return {'ext': name, 'alg': alg, 'hex': rest_.hex()}


def local_hashes(path, alg, offset, length, block):
    data = open(path, 'rb').read()
    end = len(data) if length == 0 else min(len(data), offset + length)
    data = data[offset:end]
    if block == 0:
        return hashlib.new(alg, data).hexdigest()
    return ''.join(hashlib.new(alg, data[i:i + block]).hexdigest()
                   for i in range(0, max(len(data), 1), block))


if scenario == 'version':
    # the VERSION packet's extension pairs, read from a raw subsystem channel
    t = paramiko.Transport(('127.0.0.1', int(port)))
    t.connect(username=user, password=password)
    ch = t.open_session()
    ch.invoke_subsystem('sftp')
    ch.sendall(struct.pack('>IBI', 5, CMD_INIT, 3))
    buf = b''
    while len(buf) < 4 or len(buf) < 4 + struct.unpack('>I', buf[:4])[0]:
        buf += ch.recv(65536)
    m = Message(buf[4:])
    assert m.get_byte() == bytes([CMD_VERSION])
    version = m.get_int()
    exts = []
    while m.get_remainder():
        exts.append([m.get_text(), m.get_text()])
    out(version=version, extensions=exts)
    t.close()
    sys.exit(0)

t, sftp = connect(port, user, password)

if scenario == 'checkfile':
    # checkfile NAME LOCALPATH: every algorithm, by name and by handle, whole file, ranges, blocks
    name, path = rest
    cases = []
    for alg in ['md5', 'sha1', 'sha256', 'sha512']:
        for by_handle in [False, True]:
            for offset, length, block in [(0, 0, 0), (1000, 300000, 0), (0, 4096, 256),
                                          (12345, 0, 65536), (0, 10 ** 12, 0)]:
                got = check_file(sftp, by_handle, name, alg, offset, length, block)
                want = local_hashes(path, alg, offset, length, block)
                cases.append({'alg': alg, 'handle': by_handle, 'offset': offset, 'length': length,
                              'block': block, 'got': got, 'want': want})
    for c in cases:
        out(**c)

elif scenario == 'checkfile-errors':
    name = rest[0]
    out(case='first supported of a list', r=check_file(sftp, False, name, 'crc32,sha256,md5', 0, 0, 0))
    out(case='unsupported only', r=check_file(sftp, False, name, 'crc32', 0, 0, 0))
    out(case='block 100', r=check_file(sftp, False, name, 'md5', 0, 0, 100))
    out(case='missing', r=check_file(sftp, False, 'nope', 'md5', 0, 0, 0))
    out(case='outside', r=check_file(sftp, False, '../../../../etc/passwd', 'md5', 0, 0, 0))

elif scenario == 'limits':
    rt, msg = extended(sftp, 'limits@openssh.com')
    out(values=[msg.get_int64() for _ in range(4)])

elif scenario == 'paths':
    for p in ['~', '~/sub', '~%s/sub' % user, '~nobody/x', '/sub/../sub/.']:
        rt, msg = extended(sftp, 'expand-path@openssh.com', p)
        st = reply(rt, msg)
        if st:
            out(ext='expand-path', arg=p, **st)
        else:
            assert rt == CMD_NAME
            msg.get_int()
            out(ext='expand-path', arg=p, path=msg.get_text())
    for u in ['', user, 'nobody']:
        rt, msg = extended(sftp, 'home-directory', u)
        st = reply(rt, msg)
        if st:
            out(ext='home-directory', arg=u, **st)
        else:
            msg.get_int()
            out(ext='home-directory', arg=u, path=msg.get_text())

elif scenario == 'handles':
    # fstatvfs and fsync on a handle, copy-data with ranges
    h = open_raw(sftp, 'ext.bin', WRITE | CREAT | READ)
    sftp.open  # noqa
    from paramiko.sftp import CMD_WRITE
    request(sftp, CMD_WRITE, h, u64(0), bytes(range(256)) * 64)
    rt, msg = extended(sftp, 'fstatvfs@openssh.com', h)
    v = [msg.get_int64() for _ in range(11)]
    out(ext='fstatvfs', frsize=v[1], blocks=v[2], bavail=v[4], namemax=v[10])
    rt, msg = extended(sftp, 'fsync@openssh.com', h)
    out(ext='fsync', **reply(rt, msg))
    d = open_raw(sftp, 'copy.bin', WRITE | CREAT | READ)
    rt, msg = extended(sftp, 'copy-data', h, u64(1000), u64(5000), d, u64(100))
    out(ext='copy-data range', **reply(rt, msg))
    rt, msg = extended(sftp, 'copy-data', h, u64(16000), u64(0), d, u64(10000))
    out(ext='copy-data to eof', **reply(rt, msg))
    rt, msg = extended(sftp, 'copy-data', h, u64(0), u64(100), h, u64(16384))
    out(ext='copy-data same handle', **reply(rt, msg))
    b = open_raw(sftp, 'big.bin', WRITE | READ)
    rt, msg = extended(sftp, 'copy-data', b, u64(0), u64(0), b, u64(100000))
    out(ext='copy-data overlap', **reply(rt, msg))
    request(sftp, CMD_CLOSE, b)
    request(sftp, CMD_CLOSE, h)
    request(sftp, CMD_CLOSE, d)
    rt, msg = extended(sftp, 'no-such@example.com')
    out(ext='unknown', **reply(rt, msg))

elif scenario == 'rename3':
    # SFTP v3 RENAME onto an existing name, then posix-rename
    from paramiko.sftp import CMD_RENAME
    out(op='rename', **reply(*request(sftp, CMD_RENAME, rest[0], rest[1])))
    out(op='posix-rename', **reply(*extended(sftp, 'posix-rename@openssh.com', rest[0], rest[1])))

elif scenario == 'speed':
    # speed NAME: check-file-name sha256 of NAME, while another session stats in a loop
    name = rest[0]
    size = sftp.stat(name).st_size
    lat = []
    stop = threading.Event()

    def prober():
        tt, s = connect(port, user, password)
        while not stop.is_set():
            a = time.monotonic()
            s.stat(name)
            lat.append((a, time.monotonic() - a))
            time.sleep(0.01)
        tt.close()

    th = threading.Thread(target=prober)
    th.start()
    time.sleep(0.3)
    a = time.monotonic()
    r = check_file(sftp, False, name, 'sha256', 0, 0, 0)
    secs = time.monotonic() - a
    stop.set()
    th.join()
    during = [d for (b, d) in lat if a <= b <= a + secs]
    out(hex=r.get('hex'), seconds=secs, mib_s=size / 1048576 / secs, probes=len(during),
        max_stat_ms=max([d for (_, d) in lat]) * 1000)

t.close()
