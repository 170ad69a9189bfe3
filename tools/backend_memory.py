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
