"""QMP transcripts of chardev commands, made to compare between our binary and Debian's QEMU.

    from chardev_qmp import chardev_qmp_transcript

    ours = chardev_qmp_transcript(qemu_bin, BASE_ARGS, steps, norm)
    ref = chardev_qmp_transcript(debian_qemu, BASE_ARGS, steps, norm)
"""

import time

from qmp import QemuProcess  # tests/functional/lib is on sys.path (conftest.py)


def own_chardevs(reply):
    """query-chardev's reply without the QMP monitor's chardev, in label order."""
    return sorted((c for c in reply["return"] if c["label"] != "compat_monitor0"),
                  key=lambda c: c["label"])


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
                # A server's accept of a client added just before runs on the main loop a
                # moment later (in both binaries): the state once two queries 0.2 s apart agree.
                reply = own_chardevs(reply)
                for _ in range(15):
                    time.sleep(0.2)
                    again = own_chardevs(vm.qmp.cmd(cmd))
                    if again == reply:
                        break
                    reply = again
            out.append((cmd, norm(reply)))
    return out
