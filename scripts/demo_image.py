"""make demo, part 3: the installed Debian system (tests/guest/build-debian-image: SeaBIOS,
GRUB and systemd from its own disk) protected by COLO with block replication.

    namespace: client 10.0.2.2 on br0, busybox udhcpd --+-- qcp0 -- primary
                                                        +-- qcs0 -- secondary (from step 2)

1. The primary boots the image alone (its disk the runbook's quorum colo-disk0 over a qcow2
   overlay of the image) to `login:`; root logs in on the console and lets the demo's ssh
   key in.
2. The secondary starts (parent0 a stale overlay of the same image, empty active and hidden
   disks) and the running primary is protected by the runbook's "Resume replication" steps
   (ColoPair.protect): its disk copied to parent0 by drive-mirror over NBD, replication, the
   proxy, migrate: COLO.
3. A client opens one ssh connection, writes a file to the guest's disk through it; a
   checkpoint follows.
4. The primary is SIGKILLed, the secondary fails over by the runbook's steps; the same ssh
   connection reads the file back from the survivor.
5. `systemctl reboot` over that connection: the survivor goes through SeaBIOS and GRUB again,
   serves its page with a new boot id, and the file is still there.

Slow: two boots of a full Debian system on our CPU (about 75 s each on a quiet host, several
minutes on a loaded one) and a 2 GiB disk copy; `scripts/demo.py --part image` runs it alone.
"""
import hashlib
import os
import re
import secrets
import select
import signal
import subprocess
import time

import debian_image
from colo_pair import GUEST_MAC, ColoDisks, ColoPair
from demo_out import colo_stats, say

# x-checkpoint-delay (ms)
DELAY = 2000
# Each wait for the image's boot (`login:`, or the page after a reboot): a loaded host has
# taken over 600 s (test_debian_service.py).
BOOT_TIMEOUT = max(debian_image.BOOT_TIMEOUT, 900)
DATA_FILE = "/root/colo-demo.txt"


class RemoteShell:
    """sh at the end of one ssh connection: run() writes a command line into it and reads
    the output up to a marker, so every command travels on the same TCP connection."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv + ["sh"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.seq = 0
        self.buf = b""

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def run(self, command, timeout=180):
        self.seq += 1
        marker = f"QC-END-{self.seq}\n".encode()
        self.send(f"{command}\necho QC-END-{self.seq}\n")
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while marker not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"ssh: no answer to {command[:60]!r} in {timeout} s; "
                                   f"got {self.buf[-500:]!r}")
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise ConnectionError(f"ssh ended ({self.proc.wait()}): {self.buf[-500:]!r}")
                self.buf += chunk
        out, self.buf = self.buf.split(marker, 1)
        return out.decode()

    def wait_closed(self, timeout):
        """Waits for the connection's end (the guest going down); returns ssh's status."""
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


def remote_facts(shell):
    """The file's SHA-256, the boot id and $SSH_CONNECTION (the client's port names the TCP
    connection), as the guest sees them."""
    out = shell.run(f"sha256sum {DATA_FILE} | cut -d' ' -f1; "
                    "cat /proc/sys/kernel/random/boot_id; echo $SSH_CONNECTION")
    digest, boot_id, conn = out.strip().split("\n")[-3:]
    return digest, boot_id, conn


def part_image(qemu, work):
    say("Part 3: the installed Debian system (SeaBIOS, GRUB, systemd from its disk) as a COLO "
        "pair with block replication.")
    say("    tests/guest/build-debian-image build/debian-image  (cached; the first build "
        "downloads about 50 MB and takes minutes)")
    image = debian_image.build()
    mib = image["virtual_size"] >> 20
    disks = ColoDisks(os.path.join(work, "image-disks"), mib=mib, backing=image["path"])
    say(f"    disks: qemu-img create -f qcow2 -b debian.qcow2 primary.qcow2 (the primary's), "
        f"secondary.qcow2 (parent0, the same image, stale once the primary has booted); "
        f"active.qcow2, hidden.qcow2 ({mib} MiB, empty)")
    pair = ColoPair(qemu, None, work, delay=DELAY, memory="1G", disks=disks, kernel=None,
                    no_reboot=False)
    dhcp = shell = None
    try:
        t0 = time.monotonic()
        pair.start_alone()
        dhcp = debian_image.dhcp_server(pair.ns, work, "br0", pair.guest_ip, GUEST_MAC,
                                        pair.client_ip)
        key, public = debian_image.ssh_key(work)
        say(f"    namespace {pair.ns.name}: bridge br0 {pair.client_ip}/24 (the client), taps "
            f"qcp0 and qcs0, busybox udhcpd leasing {pair.guest_ip} to {GUEST_MAC}")
        say()
        first_id = step_boot(pair, image, key, public, t0)
        say()
        step_protect(pair, disks)
        say()
        shell = RemoteShell(debian_image.ssh_argv(pair.ns, key, pair.guest_ip))
        digest, conn = step_write(pair, shell, first_id)
        say()
        step_failover(pair, shell, digest, conn, first_id)
        say()
        step_reboot(pair, shell, key, digest, first_id)
    finally:
        if shell:
            shell.close()
        if dhcp:
            dhcp.terminate()
            dhcp.wait(10)
        pair.stop()


def ssh_once(pair, key, command):
    """@command's output over a new ssh connection, once sshd answers (on a loaded host it
    may start minutes after the getty and the page); what ssh said if it never does."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        r = subprocess.run(debian_image.ssh_argv(pair.ns, key, pair.guest_ip) + [command],
                           capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 255 or time.monotonic() > deadline:
            return r.stdout.strip() or r.stderr.strip()
        time.sleep(2)


def login(vm, image):
    """debian_image.login(), with Enter typed on the console when systemd has reached its
    multi-user target and no `login:` came for a minute: agetty then prompts again. (Once, on
    a loaded host, the prompt never showed in the console's text though the boot had ended.)"""
    deadline = time.monotonic() + BOOT_TIMEOUT
    start = 0
    while True:
        try:
            m = vm.wait_for(rf"{image['hostname']} login: ", 60, start)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
            if re.search(r"Reached target.*Multi-User System", vm.console):
                say("    (no login: prompt a minute after systemd's multi-user target: Enter "
                    "typed on the console)")
                start = len(vm.console)
                vm.send("")
    return debian_image.login(vm, image, start=m.start(), timeout=60)


def step_boot(pair, image, key, public, t0):
    vm = pair.vms["primary"]
    say("1. The primary boots from its disk, alone (no proxy yet):")
    say("    primary: qemu-system-x86_64 -M pc -m 1G -nographic "
        "-netdev tap,id=hn0,ifname=qcp0,... -device virtio-net-pci,netdev=hn0,... \\")
    say("             -drive if=ide,id=colo-disk0,driver=quorum,read-pattern=fifo,"
        "vote-threshold=1,children.0.file.filename=primary.qcow2,children.0.driver=qcow2")
    vm.wait_for(r"SeaBIOS \(version", BOOT_TIMEOUT)
    vm.wait_for("GNU GRUB", BOOT_TIMEOUT)
    linux = vm.wait_for(r"Linux version (\S+)", BOOT_TIMEOUT)
    say(f"    console: SeaBIOS, GRUB, Linux {linux.group(1)} ...")
    login(vm, image)
    say(f"    login: after {time.monotonic() - t0:.0f} s; root logs in on the console and "
        "adds the demo's ssh key to /root/.ssh/authorized_keys")
    debian_image.authorize(vm, public)
    body = debian_image.page(pair.guest_ip, 80, timeout=BOOT_TIMEOUT, inside=pair.ns.entered)
    say(f"    GET http://{pair.guest_ip}/ -> {body.strip()}")
    say(f"    ssh root@{pair.guest_ip} uname -r -> {ssh_once(pair, key, 'uname -r')}")
    return re.fullmatch(r"qc-debian boot_id=(\S+)\n", body).group(1)


def step_protect(pair, disks):
    say("2. The secondary starts and the running primary is protected (the runbook's "
        "\"Resume replication\" steps):")
    say("    secondary: qemu-system-x86_64 -M pc -m 1G ... -netdev tap,id=hn0,ifname=qcs0,... "
        "filter-redirector f1/f2, filter-rewriter rew0 \\")
    say("             -drive if=none,id=parent0,file.filename=secondary.qcow2,driver=qcow2 "
        "-drive if=none,id=childs0,driver=replication,mode=secondary,... \\")
    say("             -drive if=ide,id=colo-disk0,driver=quorum,...,children.0=childs0 "
        "-incoming tcp:0.0.0.0:9998")
    say("    secondary: migrate-set-capabilities x-colo; nbd-server-start 127.0.0.1:9999; "
        "nbd-server-add parent0 writable")
    say("    primary:   chardev-add mirror0 compare1 compare0 compare0-0 compare_out "
        "compare_out0")
    say("    primary:   drive-mirror colo-disk0 -> nbd://127.0.0.1:9999/parent0 sync=full, "
        "until BLOCK_JOB_READY; stop; block-job-cancel")
    say("    primary:   drive_add -n buddy driver=replication,mode=primary,file.driver=nbd,... "
        "node-name=replication0; x-blockdev-change colo-disk0 += replication0")
    say("    primary:   object-add m0 (filter-mirror) redire0 redire1 iothread1 comp0 "
        "(colo-compare)")
    say(f"    both: x-colo on; primary: x-checkpoint-delay {DELAY}, migrate "
        "tcp:127.0.0.1:9998")
    t = time.monotonic()
    pair.protect(disks, timeout=BOOT_TIMEOUT)
    modes = [pair.qmp[s].cmd("query-colo-status")["return"]["mode"]
             for s in ("primary", "secondary")]
    say(f"    in COLO after {time.monotonic() - t:.1f} s: query-colo-status mode "
        f"{modes[0]} / {modes[1]}")
    colo_stats(pair, "primary")


def step_write(pair, shell, first_id):
    say(f"3. A client opens one ssh connection to root@{pair.guest_ip} (sh at its end) and "
        "writes a file to the guest's disk:")
    data = "".join(f"line {i}: {secrets.token_hex(24)}\n" for i in range(1000))
    digest = hashlib.sha256(data.encode()).hexdigest()
    out = shell.run(f"cat > {DATA_FILE} <<'QC_DATA'\n{data}QC_DATA\nsync")
    assert out == "", out
    got, boot_id, conn = remote_facts(shell)
    say(f"    $ cat > {DATA_FILE} (1000 lines, {len(data)} bytes); sync; sha256sum")
    say(f"    written: the guest's sha256 {got[:16]}..., the client's {digest[:16]}...: "
        f"{'equal' if got == digest else 'DIFFERENT'}")
    say(f"    the connection: SSH_CONNECTION {conn}; boot_id {boot_id} "
        f"({'the boot above' if boot_id == first_id else 'ANOTHER BOOT'})")
    # The count as the reply came, plus two: the second checkpoint from now began after it.
    after = pair.stats("primary")["checkpoints"]
    deadline = time.monotonic() + 120
    while pair.stats("primary")["checkpoints"] < after + 2:
        assert time.monotonic() < deadline, "no checkpoint after the write"
        time.sleep(0.1)
    say("    a checkpoint after the sync: the secondary holds the written data")
    colo_stats(pair, "primary")
    return digest, conn


def step_failover(pair, shell, digest, conn, first_id):
    say("4. The primary dies (SIGKILL); the secondary takes over by the runbook's steps:")
    pair.kill("primary")
    say("    kill -9 <primary>; secondary: nbd-server-stop, x-colo-lost-heartbeat, object-del "
        "f2 f1, chardev-remove red1 red0")
    t = time.monotonic()
    ev = pair.failover_runbook("secondary")
    status = pair.qmp["secondary"].cmd("query-colo-status")["return"]
    say(f"    COLO_EXIT {ev['data']['mode']} {ev['data']['reason']}; query-colo-status: mode "
        f"{status['mode']}, last-mode {status['last-mode']}, reason {status['reason']}")
    got, boot_id, conn_now = remote_facts(shell)
    say(f"    the client's ssh connection carried on ({time.monotonic() - t:.1f} s after the "
        f"failover began): SSH_CONNECTION {conn_now} "
        f"({'the same' if conn_now == conn else 'ANOTHER'})")
    say(f"    the file on the survivor: sha256 {got[:16]}... "
        f"({'equal' if got == digest else 'DIFFERENT'}); boot_id "
        f"{'unchanged' if boot_id == first_id else 'CHANGED'}")
    body = debian_image.page(pair.guest_ip, 80, inside=pair.ns.entered)
    say(f"    GET / on a new connection -> {body.strip()}")
    colo_stats(pair, "secondary")


def step_reboot(pair, shell, key, digest, first_id):
    vm = pair.vms["secondary"]
    say("5. A reboot from inside the guest: systemctl reboot over the same ssh connection.")
    at = len(vm.console)
    t = time.monotonic()
    shell.send("systemctl reboot\n")
    rc = shell.wait_closed(BOOT_TIMEOUT)
    vm.wait_for(r"SeaBIOS \(version", BOOT_TIMEOUT, at)
    say(f"    the connection closed (ssh exit {rc}); SeaBIOS's banner again after "
        f"{time.monotonic() - t:.0f} s")
    # the old system is gone (SeaBIOS runs): the first page to answer is the new boot's
    body = debian_image.page(pair.guest_ip, 80, timeout=BOOT_TIMEOUT, inside=pair.ns.entered)
    boot_id = re.fullmatch(r"qc-debian boot_id=(\S+)\n", body).group(1)
    say(f"    GET / -> {body.strip()} (a new boot: "
        f"{'yes' if boot_id != first_id else 'NO'}), {time.monotonic() - t:.0f} s after "
        "the reboot")
    got = ssh_once(pair, key, f"sha256sum {DATA_FILE} | cut -d' ' -f1")
    say(f"    ssh again: the file after the reboot: sha256 {got[:16]}... "
        f"({'equal' if got == digest else 'DIFFERENT'})")
