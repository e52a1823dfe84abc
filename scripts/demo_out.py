"""What make demo's parts print alike: a line at once, and one side's x-query-colo-stats."""


def say(text=""):
    print(text, flush=True)


def colo_stats(pair, side):
    """One line of @side's x-query-colo-stats (a ColoPair's); returns the stats. The disk bytes
    are there only with block replication."""
    st = pair.stats(side)
    disk = f", disk bytes {st['disk-bytes']}" if pair.disks else ""
    say(f"    {side} x-query-colo-stats: checkpoints {st['checkpoints']} (timer "
        f"{st['by-timer']}, compare {st['by-compare']}), pause p50 {st['pause-p50-ms']:.1f} ms "
        f"p99 {st['pause-p99-ms']:.1f} ms, {st['pages']} pages{disk}")
    return st
