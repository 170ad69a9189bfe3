"""Memory of a server process, read from /proc (the server runs on this machine)."""


def private_mb(pid):
    """A backend's private memory (clean + dirty) from /proc/PID/smaps_rollup: what
    each embedding backend costs beyond pages shared with the others."""
    kb = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                kb += int(line.split()[1])
    return kb / 1024


def anonymous_mb(pid):
    """A backend's anonymous memory (heap and anonymous maps) from smaps_rollup: what a
    leak grows. Unlike private_mb it leaves out shared_buffers and mapped model files,
    whose pages count as private whenever no other running process maps them (with
    prepared copies mapped, one soak client once went 42.0 -> 56.4 MB private over the
    second half, in a run where a backend that shared such pages was terminated; the
    next run showed no growth)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return int(line.split()[1]) / 1024
    return 0.0
