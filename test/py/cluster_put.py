"""paramiko upload for the cluster tests: PORT USER PASSWORD LOCAL REMOTE; one JSON line (ok, error)."""
import json
import sys

import paramiko

port, user, password, local, remote = sys.argv[1:6]
t = paramiko.Transport(('127.0.0.1', int(port)))
try:
    t.connect(username=user, password=password)
    s = paramiko.SFTPClient.from_transport(t)
    s.put(local, remote, confirm=False)
    print(json.dumps({'ok': True}), flush=True)
except Exception as e:  # the refusal (quota) is the result, not a crash
    print(json.dumps({'ok': False, 'error': str(e)}), flush=True)
finally:
    t.close()
