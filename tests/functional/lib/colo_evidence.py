"""What a failed COLO test leaves behind to tell where a client's bytes stopped:

    with ColoPair(...) as pair, ColoEvidence(pair, tmp_path / "evidence") as ev:
        ev.watch(echo)          # the client connection to follow
        ev.snap("B failed over")  # every live side's COLO queries, now (a side may die later)
        ...

The whole test long, tcpdump captures the namespace's bridge (br0.pcap: every packet between
the client and whichever VM serves). When the block raises, the directory gets the snapshots
(snaps.json), each VM's console (console-<n>.txt, the killed ones included), the client's
view of the watched connection (ss -tin) and the capture's packets of it with absolute
sequence numbers (echo.txt); the test's output shows their summary. A block that passes
leaves only the capture."""
import json
import os
import subprocess
import time

SNAP_QUERIES = ("query-status", "query-colo-status", "x-query-colo-stats", "x-query-colo-rewriter",
                "query-colo-compare")


class ColoEvidence:
    def __init__(self, pair, dirpath):
        self.pair = pair
        self.dir = str(dirpath)
        os.makedirs(self.dir, exist_ok=True)
        self.pcap = os.path.join(self.dir, "br0.pcap")
        self.snaps = []
        self.vms = []
        self.port = None
        self.tcpdump = None

    def __enter__(self):
        # -U: each packet reaches the file at once, so a SIGKILLed test still leaves them.
        # --immediate-mode: without it the kernel hands packets over in blocks, and the last
        # second or so before the stop (the failure itself) never reached the file.
        self.tcpdump = subprocess.Popen(
            self.pair.ns.exec_prefix + ["tcpdump", "-i", "br0", "--immediate-mode", "-U", "-s",
                                        "128", "-Z", "root", "-w", self.pcap],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.pcap):
            assert self.tcpdump.poll() is None, self.tcpdump.stderr.read()
            assert time.monotonic() < deadline, "tcpdump did not start"
            time.sleep(0.05)
        self._keep_vms()
        return self

    def watch(self, conn):
        """Follows the client connection @conn (colo_client.EchoConn)."""
        self.port = conn.sock.getsockname()[1]

    def _keep_vms(self):
        for vm in self.pair.vms.values():
            if vm not in self.vms:
                self.vms.append(vm)

    def snap(self, label):
        """Every live side's COLO queries, labelled."""
        self._keep_vms()
        entry = {"label": label, "time": time.time()}
        for side, q in self.pair.qmp.items():
            for name in SNAP_QUERIES:
                try:
                    entry[f"{side} {name}"] = q.cmd(name)
                except Exception as e:  # noqa: BLE001 -- a dead or busy side is evidence too
                    entry[f"{side} {name}"] = repr(e)
        self.snaps.append(entry)

    def _stop_capture(self):
        if self.tcpdump and self.tcpdump.poll() is None:
            self.tcpdump.terminate()
            try:
                self.tcpdump.wait(10)
            except subprocess.TimeoutExpired:
                self.tcpdump.kill()
                self.tcpdump.wait()

    def _write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def _connection_packets(self):
        """The watched connection's packets in the capture, absolute seq/ack numbers."""
        if self.port is None:
            return "no connection watched\n"
        out = subprocess.run(["tcpdump", "-nn", "-S", "-tt", "-r", self.pcap, "tcp", "port",
                              str(self.port)], capture_output=True, text=True)
        return out.stdout + out.stderr

    def _client_view(self):
        if self.port is None:
            return ""
        out = self.pair.ns.run("ss", "-tino", f"sport = :{self.port}")
        return out.stdout + out.stderr

    def dump(self):
        """Writes everything; returns a summary for the test's output."""
        self.snap("at the failure")
        self._stop_capture()
        self._write("snaps.json", json.dumps(self.snaps, indent=1))
        for i, vm in enumerate(self.vms):
            self._write(f"console-{i}.txt", vm.console)
        packets = self._connection_packets()
        client = self._client_view()
        self._write("echo.txt", f"client (ss -tino):\n{client}\npackets:\n{packets}")
        last = packets.splitlines()[-30:]
        rewriters = [{k: v for k, v in s.items() if "rewriter" in k or k == "label"}
                     for s in self.snaps]
        return (f"evidence in {self.dir}\nrewriters: {json.dumps(rewriters)}\n"
                f"client: {client}\nlast packets of port {self.port}:\n" + "\n".join(last))

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            print(self.dump())
        self._stop_capture()
