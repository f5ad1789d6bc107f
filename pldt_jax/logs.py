"""What a run tells people: its metrics files and a quiet console."""

import json
import logging
import os

import numpy as np
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


def quiet_library_logs() -> None:
    """Orbax and TFDS narrate every file they touch at INFO; keep their warnings only."""
    noisy = ("/orbax/", "/tensorflow_datasets/", "/etils/")

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not any(
            part in record.pathname for part in noisy
        )

    logging.getLogger("absl").addFilter(keep)
