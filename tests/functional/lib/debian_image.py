"""The Debian 12 disk image (tests/guest/build-debian-image): builds or finds it, gives each VM
a throw-away overlay of it, and logs in on its serial console.

    img = debian_image.build()
    vm = guest.GuestVM(binary, None, kernel=None, memory="1G", interactive=True,
                       no_reboot=False, extra_args=debian_image.drive_args(img, tmpdir, "virtio"))
    vm.start()
    debian_image.login(vm)
    print(vm.shell("uname -r"))

Environment: QC_DEBIAN_TIMEOUT (seconds from start or reboot to `login:`, default 300: a boot
takes about 60 s under Debian's TCG on a quiet 2-core host and several times that under load).
"""
import contextlib
import json
import os
import subprocess
import time
import urllib.error

from guest import ROOT, http_get

BUILD_SCRIPT = os.path.join(ROOT, "tests", "guest", "build-debian-image")
BOOT_TIMEOUT = float(os.environ.get("QC_DEBIAN_TIMEOUT", "300"))
# Set by build-debian-image (HOSTNAME, ROOT_PASSWORD); image.json repeats them.
PROMPT = r"root@qc-debian:~# "


def build(outdir=None):
    """Builds (or finds cached) the image; returns image.json's fields plus 'path'."""
    outdir = outdir or os.path.join(ROOT, "build", "debian-image")
    # A first build downloads about 50 MB of packages and takes 3-4 minutes on a loaded host.
    p = subprocess.run([BUILD_SCRIPT, outdir], capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"build-debian-image failed:\n{p.stderr}")
    with open(os.path.join(outdir, "image.json")) as f:
        info = json.load(f)
    info["path"] = os.path.join(outdir, "debian.qcow2")
    return info


def overlay(image, directory):
    """A qcow2 overlay backed by the cached image, so a VM's writes never reach the cache."""
    path = os.path.join(directory, "debian-overlay.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                    image["path"], path], check=True, capture_output=True, timeout=60)
    return path


def checked_overlay(directory):
    """qemu-img check of the overlay that overlay() made in directory (its VM gone): fails
    unless it finds no errors; returns its path."""
    path = os.path.join(directory, "debian-overlay.qcow2")
    check = subprocess.run(["qemu-img", "check", path], capture_output=True, text=True,
                           timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No errors were found" in check.stdout, check.stdout
    return path


def drive_args(image, directory, interface):
    """-drive arguments for a fresh overlay on interface (virtio, ide)."""
    return ["-drive", f"file={overlay(image, directory)},if={interface},format=qcow2"]


def login(vm, image, start=0, timeout=None):
    """Waits for the console's `login:` after offset start, logs in as root and waits for the
    shell prompt; returns the console offset after it."""
    timeout = BOOT_TIMEOUT if timeout is None else timeout
    m = vm.wait_for(rf"{image['hostname']} login: ", timeout, start)
    vm.send("root")
    m = vm.wait_for(r"Password: ", 60, m.end())
    vm.send(image["root_password"])
    m = vm.wait_for(PROMPT, 120, m.end())
    return m.end()


def page(host, port, timeout=120, inside=contextlib.nullcontext):
    """The test page's body once qc-www answers on host:port (it starts beside the getty,
    perhaps after it; the network may come later still). inside() is entered around each try
    (a NetNS's entered, to connect from a namespace)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with inside():
                status, body = http_get(host, port, "/", timeout=20)
            assert status == 200
            return body
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def dhcp_server(ns, directory, interface, guest_ip, mac, router):
    """busybox udhcpd on @interface of NetNS @ns, in the foreground of its own process (the
    caller terminates it): one static lease, so that every boot of the guest (@mac) gets
    @guest_ip (a /24, @router its gateway)."""
    conf = os.path.join(directory, "udhcpd.conf")
    with open(conf, "w") as f:
        f.write(f"interface {interface}\nstart {guest_ip}\nend {guest_ip}\n"
                f"static_lease {mac} {guest_ip}\n"
                f"lease_file {directory}/udhcpd.leases\npidfile {directory}/udhcpd.pid\n"
                f"option subnet 255.255.255.0\noption router {router}\noption lease 3600\n")
    open(os.path.join(directory, "udhcpd.leases"), "w").close()
    return subprocess.Popen(ns.exec_prefix + ["busybox", "udhcpd", "-f", conf],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def ssh_key(directory):
    """A fresh ed25519 key pair in @directory: (private key path, public key line)."""
    key = os.path.join(directory, "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True,
                   timeout=30)
    with open(key + ".pub") as f:
        return key, f.read().strip()


def authorize(vm, public):
    """Lets @public log in as root over ssh: typed into the console's root shell (login())."""
    vm.shell(f"mkdir -p -m 700 /root/.ssh && echo '{public}' > "
             "/root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys")


def ssh_argv(ns, key, host):
    """ssh as root to @host from NetNS @ns with @key, no questions asked; the remote command
    follows."""
    return ns.exec_prefix + ["ssh", "-i", key, "-o", "BatchMode=yes",
                             "-o", "StrictHostKeyChecking=no",
                             "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                             "-o", "ConnectTimeout=30", f"root@{host}"]
