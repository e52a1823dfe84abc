"""The PIIX4 PM function (00:01.3) and the PS/2 devices of the DSDT, against Debian's QEMU:
SeaBIOS's debug log (isa-debugcon on port 0x402) shows the same PCI functions initialised, the
PM block moved to 0x600 with its timer, and the PS/2 keyboard initialised; in the test guest
(-kernel) the PCI functions' identities in sysfs are the same, and Linux's i8042 binds the
PNP0303/PNP0F13 devices that ACPI describes, with the same resources, on both."""
import re
import subprocess

import pytest

import guest
from conftest import require_pc
from test_block import DEBIAN_QEMU, OURS

BINARIES = {"debian": DEBIAN_QEMU, "ours": OURS}


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def seabios_log(binary, tmp_path, name, machine):
    """SeaBIOS's debug log of a machine without a boot device (it gives up and, with
    -no-reboot, the machine ends). An empty IDE CD drive makes both machines show 00:01.1."""
    log = tmp_path / f"{name}-debugcon.log"
    argv = [require_pc(binary), "-M", machine, "-m", "128M", "-nodefaults", "-display", "none",
            "-chardev", f"file,id=dbg,path={log}",
            "-device", "isa-debugcon,iobase=0x402,chardev=dbg",
            "-device", "ide-cd,bus=ide.1,unit=0",
            "-boot", "strict=on,reboot-timeout=0", "-no-reboot"]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return log.read_text(errors="replace").splitlines()


# What SeaBIOS says about the southbridge and the PS/2 port, in the order it says it.
SEABIOS_LINES = re.compile(r"^(Found \d+ PCI devices|PCI: init bdf=|PIIX3/PIIX4 init|"
                           r"Moving pm_base|Using pmtimer|PS2 keyboard|ACPI: no PS/2)")


@pytest.mark.parametrize("machine", ["pc", "pc,acpi=off"])
def test_seabios_sets_up_pm_and_keyboard_as_debian(tmp_path, machine):
    """With acpi=off there is no PM function (as upstream's) and no DSDT to find PNP0303 in:
    SeaBIOS then enables the keyboard anyway."""
    logs = {name: seabios_log(b, tmp_path, name, machine) for name, b in BINARIES.items()}
    picked = {name: [line for line in lines if SEABIOS_LINES.match(line)]
              for name, lines in logs.items()}
    assert picked["ours"] == picked["debian"], "\n".join(logs["ours"])
    ours = picked["ours"]
    assert "PS2 keyboard initialized" in ours
    pm = ["PCI: init bdf=00:01.3 id=8086:7113", "Using pmtimer, ioport 0x608"]
    assert all((line in ours) == (machine == "pc") for line in pm), "\n".join(ours)


GUEST_QUERY = (
    "cd /sys/bus/pci/devices; for d in *; do echo PCI $d $(cat $d/vendor $d/device $d/class "
    "$d/revision $d/subsystem_vendor $d/subsystem_device); done; "
    "for d in /sys/bus/pnp/devices/*; do echo PNP $(cat $d/id) "
    "[$(basename \"$(readlink $d/driver)\")] $(cat $d/resources | tr '\\n' ' '); done; "
    "dmesg | sed -n 's/^\\[[^]]*\\] //; /^i8042: /p'")


def test_guest_sees_pci_and_ps2_as_debian(built):
    # both guests boot side by side: the test waits for the slower one only
    vms = {name: guest.GuestVM(require_pc(b), built, append="qc.nodisk", interactive=True,
                               extra_args=["-vga", "none"]) for name, b in BINARIES.items()}
    views = {}
    try:
        for vm in vms.values():
            vm.start()
        for name, vm in vms.items():
            vm.wait_ready(timeout=300)
            views[name] = vm.shell(GUEST_QUERY, timeout=60).splitlines()
    finally:
        for vm in vms.values():
            vm.stop()
    ours = views["ours"]
    pci = {name: [line for line in v if line.startswith("PCI ")] for name, v in views.items()}
    assert pci["ours"] == pci["debian"], "\n".join(ours)
    assert "PCI 0000:00:01.3 0x8086 0x7113 0x068000 0x03 0x1af4 0x1100" in pci["ours"]
    # Debian's DSDT describes more ISA devices (RTC, COM1, floppy, ...): the PS/2 pair must
    # be there on both, bound to i8042 with the same resources.
    ps2 = {name: sorted(line for line in v if re.match(r"PNP (PNP0303|PNP0f13) ", line))
           for name, v in views.items()}
    assert ps2["ours"] == ps2["debian"], "\n".join(ours)
    assert ps2["ours"] == [
        "PNP PNP0303 [i8042 kbd] state = active io 0x60-0x60 io 0x64-0x64 irq 1",
        "PNP PNP0f13 [i8042 aux] state = active irq 12",
    ], "\n".join(ours)
    i8042 = {name: [line for line in v if line.startswith("i8042: ")] for name, v in views.items()}
    assert i8042["ours"] == i8042["debian"], "\n".join(ours)
    assert any("PNP: PS/2 Controller [PNP0303:KBD,PNP0f13:MOU]" in line
               for line in i8042["ours"]), "\n".join(ours)
