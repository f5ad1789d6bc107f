"""One training per work dir: a second training started on a work dir in use refuses, with one
line, and the first goes on undisturbed."""

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator

import jax

from pldt_jax import errors


class WorkdirInUseError(errors.Error):
    """Another training holds the work dir."""


LOCK_FILE = "train.lock"


@contextlib.contextmanager
def hold(workdir: str) -> Iterator[None]:
    """Holds the work dir for this training (in process 0): a second one refuses to start.

    An exclusive `flock` on <workdir>/train.lock, which the OS releases when the process ends,
    however it ends: a run killed with kill -9 leaves nothing to clean up. The file names the
    holder (host and process id) for the second run's message.
    """
    if jax.process_index() != 0:
        yield  # The processes of one job share the work dir; the chief holds it for them.
        return
    with open(os.path.join(workdir, LOCK_FILE), "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise WorkdirInUseError(
                f"{workdir} is in use by another training ({holder}); wait until it ends, "
                "or give another --workdir"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
