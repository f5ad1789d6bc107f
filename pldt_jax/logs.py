"""What a run tells people: its metrics files and a quiet console."""

import json
import logging
import os

import numpy as np
from absl import logging as absl_logging
from tensorboardX import SummaryWriter


class RunLog:
    """metrics.jsonl (one JSON object per logged step) and TensorBoard events, side by side."""

    def __init__(self, workdir: str, enabled: bool = True):
        self.enabled = enabled
        if enabled:
            self.jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")  # noqa: SIM115
            self.tensorboard = SummaryWriter(workdir)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.jsonl.write(json.dumps({"step": step, **values}) + "\n")
        self.jsonl.flush()
        for name, value in values.items():
            self.tensorboard.add_scalar(name, value, step)

    def image(self, step: int, name: str, picture: np.ndarray) -> None:
        if self.enabled:
            self.tensorboard.add_image(name, picture, step, dataformats="HWC")

    def close(self) -> None:
        if self.enabled:
            self.jsonl.close()
            self.tensorboard.close()


# Where the log lines come from that tell a user nothing: Orbax and TFDS narrate every file they
# touch at INFO; TFDS warns that OpenCV is not installed and that a folder it is about to fill
# has no dataset_info.json; JAX tells at INFO that there is no TPU.
LIBRARY_PATHS = ("/orbax/", "/tensorflow_datasets/", "/etils/", "/jax/_src/xla_bridge.py")


def _keep(record: logging.LogRecord) -> bool:
    """Everything of pldt_jax, and the libraries' errors."""
    return record.levelno >= logging.ERROR or not any(p in record.pathname for p in LIBRARY_PATHS)


def quiet_library_logs(verbosity: int = 0) -> None:
    """Leaves out the libraries' log lines below ERROR (`LIBRARY_PATHS`), unless `verbosity` (absl's
    --verbosity, -v) is 1 or more; their errors always show, and so does everything of pldt_jax."""
    handler = absl_logging.get_absl_handler()
    handler.removeFilter(_keep)
    if verbosity < 1:
        handler.addFilter(_keep)
