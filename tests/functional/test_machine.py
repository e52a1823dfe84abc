"""`-M pc` command-line errors, differential against Debian's QEMU 7.2: bad -device, -m,
-kernel/-initrd/-append and -serial values must fail the same way with the same message, fast.
Good -m values must give the guest the same RAM (query-memory-size-summary and its HMP form),
and a size the host could never back must be refused the same way.

Every test first requires our binary to list `pc` in -machine help (conftest.require_pc).
`-accel kvm` is checked on ours only: Debian's starts on this host's paravirtual KVM and then
fails inside the guest, ours must refuse at once with a clear message."""
import os
import subprocess
import sys
import time

import pytest

from conftest import QEMU, DEBIAN_QEMU, require_pc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import guest  # noqa: E402
from procs import stop_process, watch  # noqa: E402
from qmp import QemuProcess  # noqa: E402

PC_ARGS = ["-M", "pc", "-nodefaults", "-display", "none", "-S"]


@pytest.fixture(autouse=True)
def ours_has_pc():
    require_pc(QEMU)


def run_pc(binary, args, timeout=15):
    return subprocess.run([binary] + PC_ARGS + args, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def first_error(stderr):
    """The first line that is not a warning (both print warnings such as 'nic ... no peer')."""
    lines = [l for l in stderr.splitlines() if "warning:" not in l]
    return lines[0] if lines else ""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("machine")
    garbage = d / "garbage.bin"
    garbage.write_bytes(bytes((i * 7) & 0xff for i in range(4096)))
    return {"garbage": str(garbage)}


CASES = [
    ["-device", "foo"],
    ["-device", "id=x"],
    ["-device", "virtio-net-pci,bogus=1"],
    ["-device", "virtio-net-pci,mac=zz"],
    ["-device", "virtio-net-pci,mac=52:54:00:12:34:5"],
    ["-device", "virtio-net-pci,netdev=nope"],
    ["-device", "virtio-net-pci,id=1bad"],
    ["-device", "virtio-net-pci,addr=0x40"],
    ["-device", "virtio-net-pci,addr=0"],
    ["-device", "virtio-net-pci,addr=3.1", "-device", "virtio-net-pci,addr=3.1"],
    ["-netdev", "user,id=hn0", "-device", "virtio-net-pci,netdev=hn0",
     "-device", "virtio-net-pci,netdev=hn0"],
    ["-netdev", "user,id=hn0", "-device", "virtio-net-pci,netdev=hn0,id=a",
     "-device", "virtio-net-pci,id=a"],
    ["-m", "foo"],
    ["-m", "512x"],
    ["-m", "-5"],
    ["-m", "16E"],
    ["-m", "1.5"],
    ["-m", "1e3"],
    ["-m", "0x1.8k"],
    ["-m", "5 "],
    ["-m", "size="],
    ["-m", "17592186044416"],
    ["-m", "1G,foo=1"],
    ["-m", "size=1G,slots=2"],
    ["-m", "1G,slots=x,maxmem=2G"],
    ["-m", "1G,slots=257,maxmem=2G"],
    ["-m", "1G,slots=2,maxmem=1G"],
    ["-m", "1G,slots=2,maxmem=foo"],
    ["-m", "1G,maxmem=512M"],
    ["-kernel", "/nonexistent/vmlinuz"],
    ["-initrd", "/nonexistent/initrd"],
    ["-append", "console=ttyS0"],
    ["-kernel", "@garbage"],
    ["-serial", "chardev:nope"],
    ["-smp", "foo"],
    ["-smp", "1,bogus=2"],
    ["-M", "pc,hpet=maybe"],
]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) for c in CASES])
def test_error_matches_debian(args, files):
    args = [files[a[1:]] if a.startswith("@") else a for a in args]
    theirs = run_pc(DEBIAN_QEMU, args)
    ours = run_pc(QEMU, args)
    assert theirs.returncode != 0, theirs.stderr
    assert ours.returncode != 0, ours.stderr
    assert first_error(ours.stderr) == first_error(theirs.stderr)


HPET_CASES = [(QEMU, "pc", [], True), (QEMU, "pc,hpet=off", [], False),
              (QEMU, "pc", ["-no-hpet"], False), (DEBIAN_QEMU, "pc", ["-no-hpet"], False)]


@pytest.mark.parametrize("binary,machine,extra,has_hpet", HPET_CASES,
                         ids=["default", "hpet=off", "-no-hpet", "debian--no-hpet"])
def test_hpet_on_and_off_as_upstream(binary, machine, extra, has_hpet):
    """The pc has an HPET unless hpet=off or -no-hpet says otherwise: Linux finds it through
    the ACPI HPET table and offers it as a clocksource, or finds neither."""
    with guest.GuestVM(binary, guest.build_guest(), machine=machine, net=None,
                       interactive=True, extra_args=extra) as vm:
        vm.wait_ready()
        sources = vm.shell("cat /sys/devices/system/clocksource/clocksource0/"
                           "available_clocksource").split()
    assert ("hpet" in sources) == has_hpet, sources
    assert "tsc" in sources or "acpi_pm" in sources, sources


def test_accel_kvm_refused_clearly():
    ours = run_pc(QEMU, ["-accel", "kvm"], timeout=20)
    assert ours.returncode != 0
    assert "KVM" in ours.stderr
    assert "Traceback" not in ours.stderr and "Assertion" not in ours.stderr


@pytest.mark.parametrize("smp", ["1", "cpus=1", "1,sockets=1,cores=1,threads=1"])
def test_one_cpu_topology_runs_one_vcpu(smp):
    """What -smp accepts today: topologies that come to one CPU (cf. the errors above)."""
    vm = QemuProcess(QEMU, PC_ARGS + ["-smp", smp], timeout=15)
    try:
        cpus = vm.qmp.command("query-cpus-fast")
    finally:
        vm.kill()
    assert [c["cpu-index"] for c in cpus] == [0]


@pytest.mark.parametrize("smp", ["2", "1,maxcpus=2"])
def test_more_cpus_refused_in_upstreams_words(smp):
    """One vCPU for now: more is refused with the message upstream gives a machine's limit."""
    ours = run_pc(QEMU, ["-smp", smp])
    assert ours.returncode == 1
    assert first_error(ours.stderr) == ("qemu-system-x86_64: Invalid SMP CPUs 2. The max CPUs "
                                        "supported by machine 'pc-i440fx-7.2' is 1 in qemu-colo")


def stderr_after(binary, args, seconds=1.0):
    p = subprocess.Popen([binary] + PC_ARGS + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watch(p)
    time.sleep(seconds)
    stop_process(p)
    return [l for l in p.stderr.read().splitlines() if "terminating" not in l]


@pytest.mark.parametrize("smp", ["0", "1,cores=0"])
def test_zero_topology_warns_as_debian(smp):
    assert stderr_after(QEMU, ["-smp", smp]) == stderr_after(DEBIAN_QEMU, ["-smp", smp])


# Sizes either side of the 3.5 GiB mark where pc starts splitting RAM around the PCI hole, the
# odd spellings upstream accepts (rounded up to 8 KiB; 0 and "" are the default), and slots/maxmem.
RAM_SIZES = ["512M", "1G", "3G", "3.5G", "4G", "0", "", "4097k", "100k", "1b", "5.", "010", "1.0",
             "0.1k", "+5", "size=2G", "1G,size=2G", "1G,slots=2,maxmem=4G", "maxmem=2G"]


def memory_summary(binary, m):
    vm = QemuProcess(binary, PC_ARGS + ["-m", m], timeout=15)
    try:
        return (vm.qmp.command("query-memory-size-summary"),
                vm.qmp.hmp("info memory_size_summary"))
    finally:
        vm.kill()


@pytest.mark.parametrize("m", RAM_SIZES, ids=["-m '%s'" % m for m in RAM_SIZES])
def test_ram_size_matches_debian(m):
    theirs = memory_summary(DEBIAN_QEMU, m)
    ours = memory_summary(QEMU, m)
    assert ours == theirs
    assert ours[0]["base-memory"] > 0


def test_ram_beyond_host_refused_like_debian():
    """Twice the host's RAM and swap: both map RAM the same way, so the host refuses both."""
    kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.split(":")[0] in ("MemTotal", "SwapTotal"):
                kib += int(line.split()[1])
    size = "%dG" % (2 * kib // (1 << 20) + 1)
    theirs = run_pc(DEBIAN_QEMU, ["-m", size])
    ours = run_pc(QEMU, ["-m", size])
    assert theirs.returncode != 0, theirs.stderr
    assert ours.returncode != 0, ours.stderr
    assert first_error(ours.stderr) == first_error(theirs.stderr)
    assert "cannot set up guest memory 'pc.ram'" in ours.stderr


def pvh_kernel(code):
    """A 64-bit ELF whose PVH note enters `code` (32-bit, flat segments) at 16 MiB."""
    import struct
    entry, ehdr, phdr = 0x1000000, 64, 56
    data = ehdr + 2 * phdr
    head = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, entry, ehdr, 0, 0, ehdr, phdr, 2, 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 7, data, entry, entry, len(code), 4096, 0x1000)
    note = struct.pack("<IIQQQQQQ", 4, 4, data + len(code), 0, 0, 20, 20, 4)
    xen_entry = struct.pack("<III4sI", 4, 4, 18, b"Xen\0", entry)  # XEN_ELFNOTE_PHYS32_ENTRY
    return head + load + note + code + xen_entry


def hostile_guest_code():
    """Reads ports and MMIO nobody owns (aligned, unaligned, past RAM's end, after a write)
    and prints every value read on COM1, then "OK"."""
    import struct
    com1 = b"\x66\xba\xf8\x03"                      # mov dx, 0x3f8
    out_eax = b"\xee" + b"\xc1\xe8\x08\xee" * 3      # the 4 bytes of eax, low first

    def port(p):
        return b"\x66\xba" + struct.pack("<H", p)   # mov dx, p

    def seed():
        return b"\xb8\x11\x22\x33\x44"              # mov eax, 0x44332211

    def load(addr):
        return b"\xa1" + struct.pack("<I", addr)    # mov eax, [addr]

    return b"".join([
        seed(), port(0x5555), b"\xec", com1, out_eax,        # in al, dx (odd port, byte)
        seed(), port(0x5555), b"\x66\xed", com1, out_eax,    # in ax, dx (unaligned word)
        seed(), port(0x5554), b"\x66\xed", com1, out_eax,    # in ax, dx (aligned word)
        seed(), port(0x5554), b"\xed", com1, out_eax,        # in eax, dx
        seed(), port(0x5552), b"\xed", com1, out_eax,        # in eax, dx (unaligned dword)
        port(0x5555), b"\xee",                               # out dx, al
        seed(), load(0xd0000000), com1, out_eax,             # PCI hole, nothing there
        b"\xa3\x00\x00\x00\xd0",                             # mov [0xd0000000], eax
        seed(), load(0xd0000001), com1, out_eax,             # unaligned
        seed(), load(0x08000000), com1, out_eax,             # past the end of 64 MiB of RAM
        com1, b"\xb0O\xee\xb0K\xee\xb0\n\xee",               # "OK\n"
        b"\xf4\xeb\xfd",                                     # hlt; jmp $-1
    ])


def run_hostile_guest(binary, tmp, label):
    kernel = tmp / "hostile.elf"
    kernel.write_bytes(pvh_kernel(hostile_guest_code()))
    console, log = tmp / ("%s.con" % label), tmp / ("%s.log" % label)
    vm = QemuProcess(binary, ["-M", "pc", "-m", "64", "-nodefaults", "-display", "none",
                              "-kernel", str(kernel), "-serial", "file:%s" % console,
                              "-d", "guest_errors,unimp", "-D", str(log)], timeout=15)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if console.exists() and console.read_bytes().endswith(b"OK\n"):
                break
            time.sleep(0.05)
        out = console.read_bytes() if console.exists() else b""
        # the monitor still answers, the guest still runs
        status = vm.qmp.command("query-status")["status"]
        return out, status, log.read_text() if log.exists() else ""
    finally:
        vm.kill()


def test_hostile_guest_contained(tmp_path):
    """A guest poking ports and MMIO nobody owns keeps running and reads what it reads on
    Debian's QEMU; ours logs each address once under -d guest_errors."""
    theirs, their_status, _ = run_hostile_guest(DEBIAN_QEMU, tmp_path, "debian")
    ours, status, log = run_hostile_guest(QEMU, tmp_path, "ours")
    assert theirs.endswith(b"OK\n"), theirs
    assert ours == theirs
    assert status == their_status == "running"
    # once per address: the write to a port or address already read is not logged again
    assert [line for line in log.splitlines() if line.startswith("unassigned")] == [
        "unassigned %s read 0x%x size %d (logged once per address)" % access
        for access in (("io", 0x5555, 1), ("io", 0x5554, 2), ("io", 0x5552, 4),
                       ("mmio", 0xd0000000, 4), ("mmio", 0xd0000001, 4), ("mmio", 0x8000000, 4))]
