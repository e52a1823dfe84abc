"""The set-up entry points: configure's options, install-deps being quiet when all is there."""
import os
import subprocess

from conftest import QEMU, ROOT


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_configure_help_and_bad_option():
    r = run("./configure", "--help")
    assert r.returncode == 0
    for opt in ("--prefix=DIR", "--enable-debug", "--enable-sanitizers"):
        assert opt in r.stdout
    r = run("./configure", "--bogus")
    assert r.returncode == 1
    assert "configure: unknown option '--bogus'" in r.stderr


def test_configure_sets_up_a_build_dir(tmp_path):
    builddir = tmp_path / "b"
    r = run("./configure", f"--builddir={builddir}", "--prefix=/opt/qc", "--enable-debug")
    assert r.returncode == 0, r.stderr
    info = (builddir / "meson-info" / "intro-buildoptions.json").read_text()
    assert '"/opt/qc"' in info
    assert os.path.exists(builddir / "build.ninja")


def test_install_deps_is_quiet_when_everything_is_installed():
    r = run("scripts/install-deps")
    assert r.returncode == 0
    assert r.stdout == "" and r.stderr == ""


def test_checked_in_qmp_reference_is_the_generated_one():
    """docs/qmp-reference.md is what scripts/qapi-gen.py makes of the schema in this tree (copy
    build/qapi/qmp-reference.md over it after a schema change)."""
    generated = os.path.join(os.path.dirname(QEMU), "qapi", "qmp-reference.md")
    with open(generated) as f, open(os.path.join(ROOT, "docs", "qmp-reference.md")) as g:
        assert f.read() == g.read(), "docs/qmp-reference.md is stale"
