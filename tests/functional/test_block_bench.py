"""bench/block's workload kept alive: the test guest's qc-blkbench (tests/guest/block-bench.c)
run once, tiny, through /cgi-bin/blkbench on a virtio-blk raw disk of our binary. Its answer
parses, and the blocks it wrote are in the image, byte for byte, with nothing else touched.
Also bench/block/profile's per-thread accounting (--tool switches), without a guest."""
import os
import threading
import time

import pytest

import blkbench
import guest
from conftest import require_pc
from scriptmod import load_script

IMG_MIB = 4
SPAN_MIB = 1
SEED = 5


@pytest.fixture(scope="module")
def built():
    return guest.build_guest()


def test_blkbench_once(qemu_bin, built, tmp_path):
    require_pc(qemu_bin)
    img = tmp_path / "bench.raw"
    # Bytes the helper must not change past its span, and must overwrite inside it.
    before = bytes(range(256)) * (IMG_MIB * 4096)
    img.write_bytes(before)
    vm = guest.GuestVM(qemu_bin, built, append="quiet qc.quiet qc.nodisk",
                       extra_args=["-drive", f"file={img},format=raw,if=none,id=bd0",
                                   "-device", "virtio-blk-pci,drive=bd0"])
    with vm:
        vm.wait_ready()
        # Refusals first, each an error line the host's parser rejects: a name that is not a
        # device name (the CGI), a device that is not there and a span past the disk's end
        # (the helper).
        for dev, mib, why in (("..%2Fproc", 1, "bad device name"),
                              ("vdq", 1, "/dev/vdq: No such file"),
                              ("vda", IMG_MIB * 2, "smaller than the span")):
            with pytest.raises(ValueError, match=f"qc-blkbench error .*{why}"):
                blkbench.run_in_guest(vm, dev, mib, 64, 100, SEED, 60)
        r = blkbench.run_in_guest(vm, "vda", SPAN_MIB, 256, 300, SEED, 60)
    assert r["dev"] == "/dev/vda"
    assert (r["span_mib"], r["req_kib"], r["rand_ms"], r["seed"]) == (SPAN_MIB, 256, 300, SEED)
    assert r["bad_blocks"] == 0
    assert r["rand_reads"] > 0 and r["rand_writes"] > 0
    assert r["written_bytes"] == (SPAN_MIB << 20) + r["rand_writes"] * blkbench.BLOCK
    for key, _ in blkbench.FIGURES:
        assert r[key] > 0, key
    data = img.read_bytes()
    assert len(data) == IMG_MIB << 20
    span = SPAN_MIB << 20
    for i in range(span // blkbench.BLOCK):
        got = data[i * blkbench.BLOCK:(i + 1) * blkbench.BLOCK]
        assert got == blkbench.block_bytes(SEED, i), f"block {i} at {i * blkbench.BLOCK:#x}"
    assert data[span:] == before[span:]



def load_profile():
    """bench/block/profile as a module (its file name has no .py)."""
    return load_script(os.path.join("bench", "block", "profile"), "block_profile")


def test_profile_switch_table():
    """Per thread kind: switches, time on a CPU and run-queue wait summed over the kind's
    threads between two snapshots; a thread that appeared counts from zero, one that left up
    to its last reading, and 'all' is the sum of the kinds."""
    prof = load_profile()
    pid = 100
    before = {"100": ("qemu-system-x86", 10, 1, 1000, 50),
              "101": ("CPU 0/TCG", 20, 2, 5000, 70),
              "102": ("pool-1", 3, 0, 700, 10),
              "103": ("pool-2", 1, 1, 100, 5)}
    after = {"100": ("qemu-system-x86", 14, 1, 1900, 80),
             "101": ("CPU 0/TCG", 29, 5, 9000, 170),
             "102": ("pool-1", 5, 1, 1700, 40),
             "104": ("worker", 2, 0, 300, 20)}
    table = prof.switch_table(pid, before, after)
    assert table["main"] == (1, 4, 0, 900, 30)
    assert table["vcpu"] == (1, 9, 3, 4000, 100)
    # pool-1 moved (2, 1, 1000, 30); pool-2 left (nothing since); worker came (2, 0, 300, 20)
    assert table["workers"] == (3, 4, 1, 1300, 50)
    assert table["all"] == (5, 17, 4, 6200, 180)
    assert list(table) == ["vcpu", "workers", "main", "all"]


def test_profile_thread_switches_reads_schedstat():
    """A thread's time on a CPU is its CPU-time clock, in nanoseconds, read between two
    readings of that clock."""
    prof = load_profile()
    sum(range(2_000_000))  # some CPU time of our own
    start = time.thread_time_ns()
    table = prof.thread_switches(os.getpid())
    end = time.thread_time_ns()
    name, vol, invol, on_cpu, waiting = table[str(threading.get_native_id())]
    assert start <= on_cpu <= end, (start, on_cpu, end)
    assert vol >= 0 and invol >= 0 and waiting >= 0


def test_profile_rand_write_table():
    """--tool latency --phase rand: each random write's cycle cut at the notification, the
    vCPU's sleep, the worker's syscall and the vCPU's wake-up; reads and anything before the
    last read left out; a write whose vCPU never slept has no sleep and no wake-up."""
    prof = load_profile()
    vcpu, worker, main = 7, 8, 1
    ours = [(vcpu, 0.5, "kick"), (worker, 0.6, "enter_pwritev"), (worker, 0.7, "exit_pwritev"),
            (vcpu, 1.0, "kick"), (worker, 1.0001, "enter_preadv2"),
            (worker, 1.0002, "exit_preadv2"),
            # the random writes
            (vcpu, 2.0, "kick"), (main, 2.000010, "sleep"), (vcpu, 2.000040, "sleep"),
            (worker, 2.000050, "enter_pwritev"), (worker, 2.000060, "exit_pwritev"),
            (worker, 2.000070, "wake:9"), (worker, 2.000080, "wake:7"),
            (vcpu, 2.000280, "kick"), (worker, 2.000300, "enter_pwritev"),
            (worker, 2.000310, "exit_pwritev"), (vcpu, 2.000400, "kick")]
    table = prof.rand_write_table(ours, vcpu)
    us = {k: [round(x * 1e6) for x in v] for k, v in table.items()}
    assert us == {"notification -> vCPU sleeps": [40],
                  "notification -> write syscall": [50, 20],
                  "write syscall": [10, 10],
                  "syscall end -> vCPU woken": [20],
                  "vCPU wake-up -> next notification": [200],
                  "cycle": [280, 120]}
    debian = [(worker, 3.0, "enter_pwritev"), (vcpu, 3.000002, "sleep"),
              (worker, 3.000008, "exit_pwritev"), (main, 3.000060, "wake:7"),
              (worker, 3.000250, "enter_pwritev"), (worker, 3.000255, "exit_pwritev"),
              (worker, 3.000400, "enter_pwritev")]
    us = {k: [round(x * 1e6) for x in v]
          for k, v in prof.rand_write_table(debian, vcpu).items()}
    assert us == {"write syscall": [8, 5],
                  "syscall end -> vCPU woken": [52],
                  "vCPU wake-up -> next write": [190],
                  "cycle": [250, 150]}


def test_profile_latency_event():
    """perf script's lines as --tool latency reads them (taken from a run of ours)."""
    prof = load_profile()
    lines = ["28549 24100.631243:           sched:sched_wakeup: comm=CPU 0/TCG pid=28552 "
             "prio=120 target_cpu=000",
             "28549 24100.631273:           sched:sched_switch: prev_comm=qemu-system-x86 "
             "prev_pid=28549 prev_prio=120 prev_state=S ==> next_comm=CPU 0/TCG next_pid=28552 "
             "next_prio=120",
             "28552 24100.631300:           sched:sched_switch: prev_comm=CPU 0/TCG "
             "prev_pid=28552 prev_prio=120 prev_state=R+ ==> next_comm=cc1 next_pid=4 "
             "next_prio=120",
             "28553 24101.307101:   syscalls:sys_enter_pwritev: fd: 0x0000000b, vec: "
             "0x562338eaf5d0, vlen: 0x00000016, pos_l: 0x00000000, pos_h: 0x00000000",
             "28553 24101.307505:    syscalls:sys_exit_pwritev: 0x100000",
             "28552 24101.400000:  qcblklat1:kick: (55d0a1b2c3d4)",
             ""]
    assert [prof.latency_event(line) for line in lines] == [
        (28549, 24100.631243, "wake:28552"), (28549, 24100.631273, "sleep"), None,
        (28553, 24101.307101, "enter_pwritev"), (28553, 24101.307505, "exit_pwritev"),
        (28552, 24101.4, "kick"), None]


def test_profile_strace_by_thread(tmp_path):
    """--tool strace --phase rand: strace -f's lines counted by thread kind and call, a call
    another thread cut in two counted once, futex by its operation, a thread that came and went
    between the snapshots as 'other'."""
    prof = load_profile()
    trace = tmp_path / "strace.txt"
    trace.write_text(
        "101   futex(0x55a97fe384b0, FUTEX_WAIT_PRIVATE, 2, NULL <unfinished ...>\n"
        "102   pwritev(12, [{iov_base=\"\\0\", iov_len=4096}], 1, 8192) = 4096\n"
        "102   futex(0x55a97fe384b0, FUTEX_WAKE_PRIVATE, 2147483647) = 1\n"
        "101   <... futex resumed>)               = 0\n"
        "101   preadv2(12, [{iov_base=\"\", iov_len=4096}], 1, 0, RWF_NOWAIT) = 4096\n"
        "100   poll([{fd=3, events=POLLIN}], 1, 10) = 0 (Timeout)\n"
        "109   sched_yield()                     = 0\n"
        "102   +++ exited with 0 +++\n"
        "101   futex(0x7f1850009980, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0, NULL, "
        "FUTEX_BITSET_MATCH_ANY) = 0\n")
    names = {"100": ("qemu-system-x86",), "101": ("CPU 0/TCG",), "102": ("pool-3",)}
    assert prof.strace_by_thread(str(trace), names, 100) == {
        ("vcpu", "futex wait"): 1, ("vcpu", "futex wait_bitset"): 1, ("vcpu", "preadv2"): 1,
        ("workers", "pwritev"): 1, ("workers", "futex wake"): 1, ("main", "poll"): 1,
        ("other", "sched_yield"): 1}


def test_profile_jit_per_request():
    """--tool jit: every counter of the second `info jit` reading becomes its increase per 1000
    requests; opcodes and names are not counters, and a line the first reading lacks keeps
    its count since boot (bench/net/jit-per-mb's rule)."""
    prof = load_profile()
    jpm = prof.load_jit_per_mb()
    before = ["main loop turns     1000 (C link 400, block table 100)",
              "interpreted in hot code 50 (by opcode, busiest first)",
              "  cf iret     20"]
    after = ["main loop turns     9000 (C link 2400, block table 4100)",
             "interpreted in hot code 450 (by opcode, busiest first)",
             "  cf iret     420",
             "  0f 30 wrmsr    60"]
    lines = prof.jit_per_request(jpm, before, after, 2000)
    assert lines[:3] == ["main loop turns     4000 (C link 1000, block table 2000)",
                         "interpreted in hot code 200 (by opcode, busiest first)",
                         "  cf iret     200"]
    assert lines[3].startswith("  0f 30 wrmsr    30   (not in the first reading")


def test_profile_rand_split():
    """--tool jit --phase rand: the vCPU's counts split between the random reads (the image's
    mtime still) and the random writes (its mtime moving, one still reading allowed), each
    divided by its phase's requests, or its share of them for a window shorter than the phase."""
    prof = load_profile()
    # (seconds, mtime, instructions, slices, hlt, slept)
    samples = [(0.0, 1, 0, 0, 0, 0), (0.1, 2, 100, 1, 0, 0),  # the sequential write
               (0.2, 2, 200, 1, 0, 0), (1.1, 2, 1200, 2, 1, 0),  # the random reads
               (1.2, 3, 1700, 3, 6, 4), (1.3, 3, 2200, 4, 11, 8), (1.4, 4, 2700, 5, 16, 12),
               (1.5, 4, 2800, 5, 16, 12)]  # the flush after the writes
    split = prof.rand_split(samples, 100, 50, 1000)
    assert split["read"] == {"instructions": 11.0, "slices": 0.01, "hlt": 0.01, "slept": 0.0}
    # 0.3 s of a 1 s phase: 15 of the 50 writes
    assert {k: round(v, 6) for k, v in split["write"].items()} == {
        "instructions": 100.0, "slices": 0.2, "hlt": 1.0, "slept": 0.8}
    assert prof.rand_split(samples[:1] * 3, 100, 50, 1000) == {}
