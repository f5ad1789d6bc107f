"""Runs `python -m pldt_jax.main` with one checkpoint save sabotaged, for test_resume.py.

    python tests/faulty_save_worker.py MODE STEP MARKER -- MAIN_ARGS...

When Orbax writes the `progress` item of checkpoint STEP (the other items may already be in
its temporary directory), this creates MARKER and then, with MODE
- 'hang': blocks, so that the test can kill the process in the middle of the save;
- 'enospc': fails as a full disk does (OSError ENOSPC).
"""

import errno
import sys
import time
from pathlib import Path

from orbax.checkpoint._src.handlers import json_checkpoint_handler

from pldt_jax import main

MODE, STEP, MARKER = sys.argv[1], sys.argv[2], Path(sys.argv[3])
unpatched_save = json_checkpoint_handler.JsonCheckpointHandler._save_fn


async def sabotaged_save(self, item, directory):
    # directory: <workdir>/checkpoints/<STEP>[.<temporary suffix>]/progress[.<temporary suffix>]
    if directory.name.split(".")[0] == "progress" and directory.parent.name.split(".")[0] == STEP:
        MARKER.touch()
        if MODE == "hang":
            time.sleep(3600)
        raise OSError(errno.ENOSPC, "No space left on device", str(directory))
    return await unpatched_save(self, item, directory)


json_checkpoint_handler.JsonCheckpointHandler._save_fn = sabotaged_save

if __name__ == "__main__":
    sys.argv = [sys.argv[0], *sys.argv[sys.argv.index("--") + 1 :]]
    main.run()
