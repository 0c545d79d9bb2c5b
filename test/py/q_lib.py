"""Shared paramiko helpers for the quota, resume and extension scripts (run with /usr/bin/python3)."""
import hashlib
import json
import struct
import sys

import paramiko
from paramiko.message import Message
from paramiko.py3compat import long
from paramiko.sftp import CMD_EXTENDED, CMD_EXTENDED_REPLY, CMD_NAME, CMD_STATUS, CMD_OPEN, CMD_HANDLE

# SFTP v3 open flags
READ, WRITE, APPEND, CREAT, TRUNC, EXCL = 1, 2, 4, 8, 0x10, 0x20


def connect(port, user, password, host='127.0.0.1'):
    t = paramiko.Transport((host, int(port)))
    t.connect(username=user, password=password)
    return t, paramiko.SFTPClient.from_transport(t)


def out(**kw):
    """One JSON line per result, read by the TypeScript test."""
    print(json.dumps(kw), flush=True)


def u64(n):
    return long(n)


def request(sftp, t, *args):
    """Sends a raw request and returns (type, Message); a STATUS reply is returned, not raised."""
    num = sftp._async_request(type(None), t, *args)
    while True:
        rt, data = sftp._read_packet()
        msg = Message(data)
        rnum = msg.get_int()
        if rnum == num:
            return rt, msg


def status_of(rt, msg):
    """(code, message) of a STATUS reply."""
    assert rt == CMD_STATUS, rt
    return msg.get_int(), msg.get_text()


def extended(sftp, name, *args):
    return request(sftp, CMD_EXTENDED, name, *args)


def open_raw(sftp, path, flags, attrs=None):
    """OPEN with exact pflags; returns the handle bytes or raises IOError with the server's text."""
    a = attrs if attrs is not None else paramiko.SFTPAttributes()
    rt, msg = request(sftp, CMD_OPEN, path, flags, a)
    if rt == CMD_HANDLE:
        return msg.get_binary()
    code, text = status_of(rt, msg)
    raise IOError(code, text)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return h.hexdigest()


def args():
    """port user password ... from argv."""
    return sys.argv[1:]
