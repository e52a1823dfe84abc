"""A small QMP/HMP client for functional tests (Python standard library only).

    from lib.qmp import QMPClient, HMPClient, QemuProcess

    with QemuProcess(binary, ['-M', 'none']) as vm:      # adds -qmp unix:<tmp>,server=on,wait=off
        r = vm.qmp.cmd('query-status')                   # {'return': {...}}
        vm.qmp.cmd('object-add', {'qom-type': 'iothread', 'id': 'io0'})
        ev = vm.qmp.wait_event('STOP', timeout=5)

QMPClient(address) connects to a unix path (str) or a (host, port) tuple, reads the greeting
(.greeting) and, unless negotiate=False, sends qmp_capabilities. cmd() returns the whole reply
dict ({'return': ...} or {'error': {...}}); events that arrive meanwhile are queued.
HMPClient(address) talks to a readline monitor: cmd(line) returns the output text of the command
(the terminal echo removed, '\\r\\n' turned into '\\n').
"""

import collections
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import procs  # noqa: E402
from procs import connect_retry  # tests/functional/lib is on sys.path (conftest.py)


class QMPError(Exception):
    pass


def _connect(address, timeout):
    """A unix path (str) or a (host, port) pair, retried while the listener is not up yet."""
    if isinstance(address, (tuple, list)):
        sock = connect_retry(socket.AF_INET, tuple(address), timeout)
    else:
        sock = connect_retry(socket.AF_UNIX, address, timeout)
    sock.settimeout(timeout)
    return sock


class _MonitorSocket:
    """A connected monitor socket and its receive buffer: what QMPClient and HMPClient share."""

    PROTOCOL = 'monitor'

    def __init__(self, address, timeout):
        self.timeout = timeout
        self.sock = _connect(address, timeout)
        self._buf = b''

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        """Sends bytes (or str) as they are: for split, merged or malformed input."""
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _deadline(self, timeout):
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    def _read_more(self, deadline, waiting_for):
        """Appends what arrives before @deadline to the buffer; TimeoutError if nothing does,
        EOFError if the peer closed."""
        left = deadline - time.monotonic()
        data = None
        if left > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                pass
        if data is None:
            raise TimeoutError('no %s within the timeout; got %r' % (waiting_for, self._buf))
        if not data:
            raise EOFError('%s connection closed; got %r' % (self.PROTOCOL, self._buf))
        self._buf += data


class QMPClient(_MonitorSocket):
    PROTOCOL = 'QMP'

    def __init__(self, address, negotiate=True, timeout=10.0):
        super().__init__(address, timeout)
        self._decoder = json.JSONDecoder()
        self.events = collections.deque()
        # Debian's QEMU 7.2 sometimes sends an event (RESUME at start-up) to a client that has
        # just connected, ahead of the greeting: keep such events and read on.
        self.greeting = self._recv_raw(timeout)
        while 'event' in self.greeting and 'QMP' not in self.greeting:
            self.events.append(self.greeting)
            self.greeting = self._recv_raw(timeout)
        if 'QMP' not in self.greeting:
            raise QMPError('no QMP greeting: %r' % (self.greeting,))
        if negotiate:
            self.negotiate()

    # ---- raw I/O ----
    def _recv_raw(self, timeout=None):
        """The next message (event or reply) as a dict; raises TimeoutError, EOFError."""
        deadline = self._deadline(timeout)
        while True:
            text = self._buf.decode('utf-8', errors='replace').lstrip()
            if text:
                try:
                    obj, end = self._decoder.raw_decode(text)
                    self._buf = text[end:].encode()
                    return obj
                except json.JSONDecodeError:
                    pass
            self._read_more(deadline, 'QMP message')

    def recv(self, timeout=None):
        """The next reply (not an event); events met on the way are queued."""
        while True:
            msg = self._recv_raw(timeout)
            if 'event' in msg:
                self.events.append(msg)
                continue
            return msg

    # ---- commands ----
    def negotiate(self):
        # QMPClient.cmd explicitly: the QMP subclass's cmd() returns only the 'return' value.
        r = QMPClient.cmd(self, 'qmp_capabilities')
        if 'return' not in r:
            raise QMPError('negotiation failed: %r' % (r,))
        return r

    def cmd_obj(self, obj, timeout=None):
        """Sends a whole request dict and returns the reply dict."""
        self.send_raw(json.dumps(obj))
        return self.recv(timeout)

    def cmd(self, name, args=None, id=None, timeout=None, **kwargs):
        """Runs @name with arguments from @args (a dict, for names with '-') and/or kwargs."""
        req = {'execute': name}
        arguments = dict(args or {})
        arguments.update(kwargs)
        if arguments:
            req['arguments'] = arguments
        if id is not None:
            req['id'] = id
        return self.cmd_obj(req, timeout)

    def command(self, name, args=None, **kwargs):
        """Like cmd() but returns the 'return' value and raises QMPError on an error reply."""
        r = self.cmd(name, args, **kwargs)
        if 'error' in r:
            raise QMPError('%s: %s: %s' % (name, r['error'].get('class'), r['error'].get('desc')))
        return r['return']

    def hmp(self, command_line):
        """Runs an HMP command through human-monitor-command; returns its output text."""
        return self.command('human-monitor-command', {'command-line': command_line})

    # ---- events ----
    def get_events(self, wait=0.0):
        """Returns and clears the queued events, reading whatever arrives within @wait seconds."""
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msg = self._recv_raw(left)
            except TimeoutError:
                break
            if 'event' in msg:
                self.events.append(msg)
            else:
                raise QMPError('unexpected reply while waiting for events: %r' % (msg,))
        out = list(self.events)
        self.events.clear()
        return out

    def wait_event(self, name=None, timeout=None, match=None):
        """The first event called @name (any if None) whose 'data' contains @match's items."""
        def fits(ev):
            if name is not None and ev.get('event') != name:
                return False
            data = ev.get('data', {})
            return all(data.get(k) == v for k, v in (match or {}).items())

        for ev in list(self.events):
            if fits(ev):
                self.events.remove(ev)
                return ev
        deadline = self._deadline(timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('event %s not received' % name)
            msg = self._recv_raw(left)
            if 'event' not in msg:
                raise QMPError('unexpected reply while waiting for an event: %r' % (msg,))
            if fits(msg):
                return msg
            self.events.append(msg)

    def clear_events(self):
        self.events.clear()


class HMPClient(_MonitorSocket):
    PROTOCOL = 'HMP'
    PROMPT = b'(qemu) '

    def __init__(self, address, timeout=10.0):
        super().__init__(address, timeout)
        self.banner = self._read_to_prompt().decode(errors='replace')

    def _read_to_prompt(self, timeout=None):
        deadline = self._deadline(timeout)
        while self.PROMPT not in self._buf:
            self._read_more(deadline, 'HMP prompt')
        idx = self._buf.index(self.PROMPT)
        out, self._buf = self._buf[:idx], self._buf[idx + len(self.PROMPT):]
        return out

    def cmd_raw(self, line, timeout=None):
        """Sends @line + newline; returns everything up to the next prompt, echo included."""
        self.sock.sendall(line.encode() + b'\n')
        return self._read_to_prompt(timeout)

    def cmd(self, line, timeout=None):
        raw = self.cmd_raw(line, timeout)
        # The terminal echo of the typed line ends with the first CR LF.
        _, sep, rest = raw.partition(b'\r\n')
        return rest.decode(errors='replace').replace('\r\n', '\n')


class QemuProcess:
    """Starts @binary with @args plus a QMP unix socket (and an HMP one if hmp=True).

    .qmp is a negotiated QMPClient, .hmp an HMPClient (if asked), .tmpdir a private directory.
    Reference runs: QemuProcess('/usr/bin/qemu-system-x86_64', ['-M', 'none', ...]).
    """

    def __init__(self, binary, args=(), hmp=False, timeout=10.0, stderr=None):
        self.tmpdir = tempfile.mkdtemp(prefix='qemu-colo-test-')
        self.qmp_path = os.path.join(self.tmpdir, 'qmp.sock')
        self.hmp_path = os.path.join(self.tmpdir, 'hmp.sock') if hmp else None
        cmdline = [binary] + list(args) + [
            '-qmp', 'unix:%s,server=on,wait=off' % self.qmp_path]
        if hmp:
            cmdline += ['-monitor', 'unix:%s,server=on,wait=off' % self.hmp_path]
        self.stderr_path = os.path.join(self.tmpdir, 'stderr')
        self._stderr = open(self.stderr_path, 'wb') if stderr is None else stderr
        self.proc = subprocess.Popen(cmdline, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr)
        procs.watch(self.proc, binary)
        self.qmp = None
        self.hmp = None
        try:
            deadline = time.monotonic() + timeout
            while not os.path.exists(self.qmp_path):
                if self.proc.poll() is not None:
                    procs.awaited(self.proc)  # the error below reports its status already
                    raise QMPError('%s exited with %s: %s' % (binary, self.proc.returncode,
                                                              self.read_stderr()))
                if time.monotonic() > deadline:
                    raise TimeoutError('QMP socket never appeared')
                time.sleep(0.02)
            self.qmp = QMPClient(self.qmp_path, timeout=timeout)
            if hmp:
                self.hmp = HMPClient(self.hmp_path, timeout=timeout)
        except (OSError, EOFError) as e:
            # The monitor came up before a later option failed: say what the process said.
            exited = self._exit_soon()
            said = self.read_stderr()
            self.kill()
            if exited is None:
                raise
            raise QMPError('%s exited with %s: %s' % (binary, exited, said)) from e
        except BaseException:
            self.kill()
            raise

    def _exit_soon(self, timeout=2.0):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        procs.awaited(self.proc)
        return rc

    def read_stderr(self):
        try:
            with open(self.stderr_path, 'rb') as f:
                return f.read().decode(errors='replace')
        except OSError:
            return ''

    def wait(self, timeout=10.0):
        """Waits for its exit and returns the status, which the caller checks."""
        rc = self.proc.wait(timeout)
        procs.awaited(self.proc)
        return rc

    def kill(self):
        """Ends it (SIGTERM, then SIGKILL) and cleans up; a bad exit fails the test (procs)."""
        for c in (self.qmp, self.hmp):
            if c:
                c.close()
        procs.stop_process(self.proc)
        if hasattr(self._stderr, 'close'):
            self._stderr.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def shutdown(self, timeout=10.0):
        """quit through QMP and wait for a clean exit; returns the exit code."""
        try:
            self.qmp.cmd('quit')
        except (EOFError, OSError, TimeoutError):
            pass
        try:
            return self.wait(timeout)
        finally:
            self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()



class QMP:
    """A QMPClient wrapper whose cmd() returns the 'return' value and raises QMPError."""

    def __init__(self, address, timeout=10.0):
        self.client = QMPClient(address, timeout=timeout)
        self.events = self.client.events

    def cmd(self, name, args=None, **kwargs):
        return self.client.command(name, args, **kwargs)

    def close(self):
        self.client.close()
