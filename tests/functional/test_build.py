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


def archive_symbols(lib, defined):
    """{source name: names it defines (or, with defined=False, leaves to others)} for the
    members of build/<lib>/lib<lib>.a (what is linked, not stale objects beside it)."""
    path = os.path.join(os.path.dirname(QEMU), lib, f"lib{lib}.a")
    flag = "--defined-only" if defined else "--undefined-only"
    r = subprocess.run(["nm", "-A", flag, "--format=posix", path], capture_output=True,
                       text=True, check=True)
    out = {}
    for line in r.stdout.splitlines():
        where, _, rest = line.partition(": ")
        member = os.path.basename(where[where.index("[") + 1:-1])
        out.setdefault(member.removesuffix(".c.o"), set()).add(rest.split()[0])
    return out


def test_monitor_calls_go_one_way():
    """monitor-internal.h's drawing: monitor-chardev.c -> qmp.c, hmp.c -> monitor.c, never
    back up (the sessions and the transport reach back only through their tables)."""
    rank = {"monitor": 0, "qmp": 1, "hmp": 1, "monitor-chardev": 2}
    defs = archive_symbols("monitor", True)
    uses = archive_symbols("monitor", False)
    for user in rank:
        for sym in uses[user]:
            for owner in rank:
                if owner != user and sym in defs[owner]:
                    assert rank[owner] < rank[user], f"{user}.c calls {sym} of {owner}.c"


def assert_no_command_layer(lib):
    defs, uses = archive_symbols(lib, True), archive_symbols(lib, False)
    assert defs, f"lib{lib}.a has no members"
    for name in defs:
        for sym in defs[name] | uses.get(name, set()):
            assert not sym.startswith(("qmp_", "hmp_", "qapi_event_send_")), f"{name}.c: {sym}"


def test_net_has_no_command_layer():
    """net/ implements no QMP command and sends no QMP event: that is monitor/'s, hooked by
    system/vl.c (architecture.md, Floors)."""
    assert_no_command_layer("net")


def test_migration_lib_has_no_command_layer():
    """migration_lib (vmstate, options, channel, stream) keeps the stores and their getters;
    the commands over them (migrate-set-capabilities, query-migrate-parameters, ...) are
    monitor/qmp-cmds-migration.c's."""
    assert_no_command_layer("migration")
    assert "options" in archive_symbols("migration", True)
