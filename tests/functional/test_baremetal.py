"""Bare-metal test kernels as under QEMU: multiboot v1 -kernel, isa-debug-exit, pc-testdev and
-global, each run on ours and on Debian's QEMU 7.2 with exit statuses and serial output compared.

The kernels are built here, at test time, from tests/functional/baremetal/ with Debian's gcc
(-m32 -ffreestanding) and ld: one ELF and one a.out-kludge image from the same sources."""
import os
import shutil
import struct
import subprocess

import pytest

from conftest import assert_same_failure, run, strip_prog

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "baremetal")
CFLAGS = ["-m32", "-ffreestanding", "-fno-pic", "-fno-stack-protector", "-nostdlib", "-O2",
          "-Wall", "-Werror", "-fno-asynchronous-unwind-tables", "-mno-sse", "-mno-mmx"]
LDFLAGS = ["-m", "elf_i386", "-T", os.path.join(SRC, "kernel.ld"), "-z", "max-page-size=0x1000",
           "-z", "noexecstack", "--no-warn-rwx-segments", "--build-id=none"]
# Debian's QEMU may take a while to get through SeaBIOS on a loaded host; ours is slower still.
BOOT_TIMEOUT = 120


def _sh(*argv, cwd):
    subprocess.run(list(argv), cwd=cwd, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """{'elf': path, 'aout': path} plus the work directory, built with gcc -m32 and ld."""
    for tool in ("gcc", "ld", "objcopy"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing (scripts/install-deps installs build-essential)")
    d = tmp_path_factory.mktemp("baremetal")
    _sh("gcc", *CFLAGS, "-c", os.path.join(SRC, "kmain.c"), "-o", "kmain.o", cwd=d)
    _sh("gcc", *CFLAGS, "-c", os.path.join(SRC, "entry.S"), "-o", "entry.o", cwd=d)
    _sh("gcc", *CFLAGS, "-DAOUT_KLUDGE", "-c", os.path.join(SRC, "entry.S"), "-o",
        "entry-aout.o", cwd=d)
    _sh("ld", *LDFLAGS, "-o", "k-elf", "entry.o", "kmain.o", cwd=d)
    _sh("ld", *LDFLAGS, "-o", "k-aout.elf", "entry-aout.o", "kmain.o", cwd=d)
    _sh("objcopy", "-O", "binary", "k-aout.elf", "k-aout", cwd=d)
    (d / "m1").write_bytes(b"hello module one\n")
    (d / "m,2").write_bytes(bytes((i * 7 + 3) & 0xff for i in range(5000)))
    return {"dir": d, "elf": "k-elf", "aout": "k-aout"}


def boot(binary, d, kernel, append, *extra, initrd=None):
    """Runs kernel (a file name in d, so both binaries see the same command line) to its end;
    returns (exit status, serial output, stderr)."""
    serial = d / f"serial-{os.getpid()}.txt"
    if serial.exists():
        serial.unlink()
    argv = [binary, "-nodefaults", "-display", "none", "-m", "128M", "-no-reboot",
            "-serial", f"file:{serial}", "-kernel", kernel, "-append", append, *extra]
    if initrd is not None:
        argv += ["-initrd", initrd]
    p = subprocess.run(argv, cwd=d, capture_output=True, text=True, timeout=BOOT_TIMEOUT,
                       stdin=subprocess.DEVNULL)
    out = serial.read_text(errors="replace") if serial.exists() else ""
    return p.returncode, out, p.stderr


def both(qemu_bin, debian_qemu, *args, **kw):
    ours = boot(qemu_bin, *args, **kw)
    theirs = boot(debian_qemu, *args, **kw)
    assert ours[0] == theirs[0], (ours, theirs)
    assert ours[1] == theirs[1]
    assert strip_prog(ours[2]) == strip_prog(theirs[2])
    return ours


@pytest.mark.parametrize("form", ["elf", "aout"])
def test_multiboot_kernel_runs_as_under_debian(qemu_bin, debian_qemu, kernels, form):
    rc, out, _ = both(qemu_bin, debian_qemu, kernels["dir"], kernels[form], "exit=3 testdev",
                      "-device", "isa-debug-exit", "-device", "pc-testdev",
                      initrd="m1 a1 a2,m,,2")
    assert rc == (3 << 1) | 1
    assert "eax=0x2badb002\nebx=0x00009500\ncs=0x00000008\nds=0x00000010\n" in out
    assert f"cmdline={kernels[form]} exit=3 testdev\n" in out
    assert "mod 0 cmdline=m1 a1 a2 size=17 page_aligned=1" in out
    assert "mod 1 cmdline=m,2 size=5000 page_aligned=1" in out
    assert "mmap low_ram=1 ram_1m=1 entry_sizes_20=1\nloader=qemu\n" in out
    assert "testdev iomem end ok" in out
    assert " BAD " not in out
    assert out.endswith("exit 3\n")  # nothing runs after the exit port


@pytest.mark.parametrize("code,status", [(0, 1), (0x7f, 255), (0x80, 1), (0x55, 0xab)])
def test_exit_status_is_value_shifted_or_one(qemu_bin, debian_qemu, kernels, code, status):
    rc, out, _ = both(qemu_bin, debian_qemu, kernels["dir"], kernels["elf"], f"exit={code}",
                      "-device", "isa-debug-exit")
    assert rc == status
    assert "multiboot" not in out and out.endswith(f"exit {code}\n")


@pytest.mark.parametrize("how", [
    ["-global", "isa-debug-exit.iobase=0xf4", "-device", "isa-debug-exit"],
    ["-global", "driver=isa-debug-exit,property=iobase,value=0xf4", "-device",
     "isa-debug-exit,iosize=4"],
    ["-global", "isa-debug-exit.iobase=0x600", "-device", "isa-debug-exit,iobase=0xf4"],
], ids=["short", "long", "device-wins"])
def test_exit_port_moved(qemu_bin, debian_qemu, kernels, how):
    """kvm-unit-tests' port: 0xf4, set through -global or -device (the device's own wins)."""
    rc, _, _ = both(qemu_bin, debian_qemu, kernels["dir"], kernels["elf"], "exit=5 port=0xf4",
                    *how)
    assert rc == 11


def test_without_exit_device_kernel_runs_on(qemu_bin, debian_qemu, kernels):
    """No isa-debug-exit: the write goes nowhere and the kernel halts; -no-reboot and a triple
    fault (divide error without an IDT) end both with status 0."""
    rc, out, _ = both(qemu_bin, debian_qemu, kernels["dir"], kernels["elf"], "fault")
    assert rc == 0
    assert out.endswith("dividing by zero\n")


def _aout(kernel, **fields):
    """The a.out kernel with header fields replaced (offsets from its multiboot header)."""
    data = bytearray(kernel)
    offs = {"header_addr": 12, "load_addr": 16, "load_end_addr": 20, "bss_end_addr": 24}
    for name, value in fields.items():
        struct.pack_into("<I", data, offs[name], value)
    return bytes(data)


HOSTILE = {
    "load_addr": lambda k: _aout(k, header_addr=0x100000, load_addr=0x100010),
    "header_addr": lambda k: _aout(k, header_addr=0x100010),
    "load_end_addr": lambda k: _aout(k, load_end_addr=0xff000),
    "bss_end_addr": lambda k: _aout(k, bss_end_addr=0x100100),
    "address_space": lambda k: _aout(k, header_addr=0xfffff000, load_addr=0xfffff000,
                                     load_end_addr=0, bss_end_addr=0),
    "x86_64": lambda k: struct.pack("<4sBBBB", b"\x7fELF", 2, 1, 1, 0) + bytes(8)
    + struct.pack("<HH", 2, 62) + bytes(4) + struct.pack("<III", 0x1badb002, 0, 0xe4524ffe),
    "not_elf": lambda k: bytes(64) + struct.pack("<III", 0x1badb002, 0, 0xe4524ffe) + bytes(64),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_header_refused_as_debian(qemu_bin, debian_qemu, kernels, name):
    d = kernels["dir"]
    good = (d / kernels["aout"]).read_bytes()
    (d / f"bad-{name}").write_bytes(HOSTILE[name](good))
    args = ["-nodefaults", "-display", "none", "-kernel", str(d / f"bad-{name}")]
    ours = run(qemu_bin, *args, base=False, timeout=60)
    assert_same_failure(ours, run(debian_qemu, *args, base=False, timeout=60))
    assert ours.stderr.strip()


def test_missing_module_refused_as_debian(qemu_bin, debian_qemu, kernels):
    d = kernels["dir"]
    args = ["-nodefaults", "-display", "none", "-kernel", str(d / kernels["elf"]),
            "-initrd", f"{d / 'm1'},{d / 'nonexistent'} x"]
    ours = run(qemu_bin, *args, base=False, timeout=60)
    assert_same_failure(ours, run(debian_qemu, *args, base=False, timeout=60))
    assert "Failed to open file" in ours.stderr


GLOBAL_ERRORS = [
    ["-global", "isa-debug-exit.bar=1", "-device", "isa-debug-exit"],
    ["-global", "isa-debug-exit.iobase=zz", "-device", "isa-debug-exit"],
    ["-global", "isa-debug-exit.iobase=-1", "-device", "isa-debug-exit"],
    ["-global", "isa-debug-exit.iobase=0x1ffffffff", "-device", "isa-debug-exit"],
    ["-global", "isa-debug-exit.iobase=", "-device", "isa-debug-exit,iobase=5"],
    ["-global", "isa-debug-exit.iosize=4", "-global", "isa-debug-exit.iosize=x", "-device",
     "isa-debug-exit"],
    ["-global", "pc-testdev.x=1", "-device", "pc-testdev"],
    ["-global", "virtio-net-pci.mac=zz", "-device", "virtio-net-pci"],
    ["-global", "virtio-net-pci.bogus=1", "-device", "virtio-net-pci"],
    ["-global", "virtio-net-pci.bogus=1", "-nic", "user,model=virtio-net-pci"],
    ["-global", "driver=isa-debug-exit,property=iobase"],
    ["-global", "driver=isa-debug-exit,value=1"],
    ["-global", "foo=1,bar=2"],
    ["-global", "=1"],
    ["-global", "isa-debug-exit"],
    ["-device", "isa-debug-exit,iobase=zz"],
    ["-device", "isa-debug-exit,iobase=-1"],
    ["-device", "isa-debug-exit,iosize=0x100000000"],
    ["-device", "pc-testdev,x=1"],
    ["-device", "isa-debugcon"],
    ["-device", "isa-debugcon,chardev=nope"],
    ["-chardev", "null,id=c", "-device", "isa-debugcon,chardev=c,iobase=zz"],
    ["-chardev", "null,id=c", "-device", "isa-debugcon,chardev=c,readback=-1"],
]


@pytest.mark.parametrize("args", GLOBAL_ERRORS, ids=lambda a: " ".join(a)[:60])
def test_global_and_device_errors_match_debian(qemu_bin, debian_qemu, args):
    argv = ["-nodefaults", "-display", "none", "-S", *args]
    ours = run(qemu_bin, *argv, base=False)
    assert_same_failure(ours, run(debian_qemu, *argv, base=False))


@pytest.mark.parametrize("dev", ["isa-debug-exit", "pc-testdev", "isa-debugcon"])
def test_no_isa_bus_without_pc_as_debian(qemu_bin, debian_qemu, dev):
    ours = run(qemu_bin, "-device", dev)
    assert_same_failure(ours, run(debian_qemu, "-device", dev))


@pytest.mark.parametrize("dev", ["isa-debug-exit", "pc-testdev", "isa-debugcon"])
def test_device_help_matches_debian(qemu_bin, debian_qemu, dev):
    ours = run(qemu_bin, "-device", f"{dev},help", base=False)
    theirs = run(debian_qemu, "-device", f"{dev},help", base=False)
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout == theirs.stdout


def test_device_list_names_both(qemu_bin, debian_qemu):
    lines = run(qemu_bin, "-device", "help", base=False).stdout.splitlines()
    for dev in ("isa-debug-exit", "pc-testdev", "isa-debugcon"):
        assert f'name "{dev}", bus ISA' in lines


def test_unknown_global_class_warned_as_debian(qemu_bin, debian_qemu):
    """A global for a type nobody has is only a warning, once the machine is built."""
    qmp = '{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n'
    outs = []
    for binary in (qemu_bin, debian_qemu):
        p = subprocess.run([binary, "-M", "none", "-nodefaults", "-display", "none",
                            "-global", "no-such-device.prop=1", "-qmp", "stdio"],
                           input=qmp, capture_output=True, text=True, timeout=30)
        assert p.returncode == 0
        outs.append(strip_prog(p.stderr))
    assert outs[0] == outs[1] == "warning: global no-such-device.prop has invalid class name"
