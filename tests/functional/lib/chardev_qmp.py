"""QMP transcripts of chardev commands, made to compare between our binary and Debian's QEMU.

    from chardev_qmp import chardev_qmp_transcript

    ours = chardev_qmp_transcript(qemu_bin, BASE_ARGS, steps, norm)
    ref = chardev_qmp_transcript(debian_qemu, BASE_ARGS, steps, norm)
"""

from qmp import QemuProcess  # tests/functional/lib is on sys.path (conftest.py)


def chardev_qmp_transcript(binary, args, steps, norm=lambda reply: reply):
    """(command, norm(reply)) for each (command, arguments or None) of steps, in one process.

    query-chardev replies keep only the test's own chardevs (the QMP monitor's is left out), in
    label order, so that two binaries' transcripts compare equal when they behave alike.
    """
    out = []
    with QemuProcess(binary, args) as vm:
        for cmd, arguments in steps:
            reply = vm.qmp.cmd(cmd, arguments) if arguments is not None else vm.qmp.cmd(cmd)
            if cmd == "query-chardev":
                reply = sorted((c for c in reply["return"] if c["label"] != "compat_monitor0"),
                               key=lambda c: c["label"])
            out.append((cmd, norm(reply)))
    return out
