"""ISO 9660 images made at test time by Debian's xorriso."""
import subprocess


def mkisofs(args, cwd=None, attempts=3):
    """Runs `xorriso -as mkisofs -quiet ARGS`. xorriso 1.5.4 once died of SIGSEGV making a 70 KB
    image in a clean-clone CI run (its stderr says `UNIX-SIGNAL: SIGSEGV`); a tool that crashes
    is run again, up to `attempts` times, and any other failure is raised at once."""
    for attempt in range(attempts):
        r = subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", *args], cwd=cwd,
                           capture_output=True)
        if r.returncode == 0:
            return
        if b"UNIX-SIGNAL" not in r.stderr or attempt == attempts - 1:
            raise subprocess.CalledProcessError(r.returncode, r.args, r.stdout, r.stderr)
