"""The main job end to end on dummy LookBook data: every work-dir file, resume, evaluate, sample."""

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pldt_jax import (
    checkpoints,
    evaluate,
    images,
    prepare,
    retrieval,
    sample,
    split_arrays,
    train,
)
from pldt_jax.config import default_config
from pldt_jax_datasets import lookbook

DUMMY_DATA = Path(lookbook.__file__).parent / "dummy_data"


def tiny_config(data_dir: Path, total_steps: int = 2):
    config = default_config()
    config.dataset.manual_dir = str(DUMMY_DATA)
    config.dataset.data_dir = str(data_dir)
    config.model.width = 1 / 32
    config.optimizer.name = "adam"
    config.batch_size = 4
    config.total_steps = total_steps
    config.log_every_steps = 1
    config.sample_every_steps = 2
    config.checkpoint_every_steps = 2
    config.num_sample_images = 4
    config.eval_batch_size = 8
    config.attribute_classifier_steps = 5  # The judge's path, not its accuracy.
    config.eval_every_steps = 2  # Validation at step 2 (a multiple, and the last), not 1.
    return config


def read_rows(workdir: Path) -> tuple[list[dict], list[dict]]:
    """metrics.jsonl's training rows and periodic validation rows."""
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    validation = [row for row in rows if any(key.startswith("val/") for key in row)]
    return [row for row in rows if row not in validation], validation


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    workdir = root / "workdir"
    judges = []  # Every time the attribute judge is loaded.
    load_judge = evaluate.load_judge
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate, "load_judge", lambda *a: judges.append(a) or load_judge(*a))
        results = train.train_and_evaluate(tiny_config(root / "tfds"), str(workdir))
    assert len(judges) == 2  # Once for the training run's validations, once for the final one.
    return workdir, root, results


def test_main_job_writes_every_file(run):
    workdir, _, results = run
    config = json.loads((workdir / "config.json").read_text())
    assert config["total_steps"] == 2 and config["model"]["width"] == 1 / 32

    logged, validation = read_rows(workdir)
    assert [entry["step"] for entry in logged] == [1, 2]
    assert [entry["step"] for entry in validation] == [2]
    for key in ("rmse", "cssim", "retrieval_top1", "retrieval_top5", "cat", "att", "seconds"):
        assert np.isfinite(validation[0][f"val/{key}"]), key
    assert 0 <= validation[0]["val/retrieval_top1"] <= validation[0]["val/retrieval_top5"] <= 1
    for key in (
        "d_real_fake_loss",
        "d_domain_loss",
        "converter_loss",
        "mse",
        "d_real_fake/real",
        "d_domain/associated",
        "images_per_second",
    ):
        assert np.isfinite(logged[-1][key]), key

    assert list(workdir.glob("events.out.tfevents.*")), "no TensorBoard events"
    grid = np.asarray(Image.open(workdir / "samples" / "step_2.png"))
    assert grid.ndim == 3 and grid.shape[0] >= 64 and grid.shape[1] >= 3 * 64 * 1
    assert (workdir / "checkpoints" / "2").is_dir()

    saved = json.loads((workdir / "eval" / "metrics.json").read_text())
    assert saved["split"] == "test" and saved["step"] == 2
    assert saved["num_images"] > 0
    assert 0 <= saved["rmse"] <= 1 and -1 <= saved["cssim"] <= 1
    # dummy_data has an attributes table, so the user-study proxies are there too.
    for key in ("cat", "att", "realism_fd", "cat_ceiling", "att_ceiling"):
        assert np.isfinite(saved[key]), key
    # Product retrieval among the test products: needs no labels.
    for key in ("retrieval_top1", "retrieval_top5", "retrieval_chance_top1"):
        assert 0 <= saved[key] <= 1, key
    gallery = saved["retrieval_gallery_size"]
    assert gallery > 0 and saved["retrieval_chance_top5"] == pytest.approx(
        min(5, gallery) / gallery
    )
    assert {"retrieval_top1", "retrieval_top5"} <= saved["baselines"]["mean_product"].keys()
    assert saved == json.loads(json.dumps(results))
    examples = np.load(workdir / "eval" / "examples.npz")
    assert examples["generated"].shape == examples["target"].shape
    assert examples["generated"].dtype == np.uint8 and len(examples["image_id"]) > 0


def test_validation_runs_every_n_steps_and_at_the_last():
    due = [n for n in range(1, 8) if train.validation_due(n, every=3, num_steps=7)]
    assert due == [3, 6, 7]
    assert not any(train.validation_due(n, every=0, num_steps=7) for n in range(1, 8))


def test_rerun_resumes_from_latest_checkpoint(run, tmp_path):
    workdir, root, _ = run
    results = train.train_and_evaluate(tiny_config(root / "tfds", total_steps=3), str(workdir))
    logged, validation = read_rows(workdir)
    assert [entry["step"] for entry in logged] == [1, 2, 3]  # Steps 1-2 were not run again.
    assert [entry["step"] for entry in validation] == [2, 3]  # 3: the last, not a multiple.
    assert results["step"] == 3
    step, converter, config = checkpoints.restore_network(workdir / "checkpoints")
    assert step == 3 and int(converter.step) == 3 and config.total_steps == 3


def test_evaluate_restores_the_checkpoint(run):
    workdir, _, _ = run
    results = evaluate.evaluate(str(workdir), "validation")
    assert results["split"] == "validation" and results["num_images"] > 0
    assert "mean_product" in results["baselines"]


def test_retrieval_baseline_answers_with_training_products(run):
    workdir, _, _ = run
    results = evaluate.evaluate(str(workdir), "test", method="retrieval")
    assert results["eval_method"] == "retrieval" and results["num_images"] > 0
    assert results["method"] == retrieval.METHOD_NAME  # Not the converter run's name.
    # The test products ranked by the DD-score.
    assert 0 <= results["retrieval_top1"] <= results["retrieval_top5"] <= 1
    assert results["retrieval_gallery_size"] > 0
    examples = np.load(workdir / "eval" / "examples.npz")
    # Every answer is a real product image, so it is the target of some training photo.
    config = tiny_config(workdir.parent / "tfds")
    train_targets = split_arrays.load_split(prepare.load_data_sources(config)["train"]).target
    for answer in examples["generated"]:
        assert (train_targets == answer).all(axis=(1, 2, 3)).any()


def test_sample_converts_photos_of_any_format(run, tmp_path):
    workdir, _, _ = run
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (90, 160), (200, 30, 30)).save(photos / "a.jpg")
    Image.new("RGBA", (300, 120), (0, 0, 255, 128)).save(photos / "b.png")
    Image.new("RGB", (40, 50), (0, 200, 0)).save(photos / "c.webp")
    (photos / "notes.txt").write_text("not a photo")
    failures = sample.sample(str(workdir), str(photos), str(tmp_path / "out"))
    assert [path.name for path, _ in failures] == ["notes.txt"]
    for stem in "abc":
        product = np.asarray(Image.open(tmp_path / "out" / f"{stem}.png"))
        assert product.shape == (64, 64, 3) and product.dtype == np.uint8

    single = tmp_path / "single.png"
    assert sample.sample(str(workdir), str(photos / "a.jpg"), str(single)) == []
    # The same photo through the folder and the single-file path gives the same product.
    np.testing.assert_array_equal(
        np.asarray(Image.open(single)), np.asarray(Image.open(tmp_path / "out" / "a.png"))
    )


def test_sample_command_reports_failures_and_missing_checkpoints(run, tmp_path):
    workdir, _, _ = run
    photos = tmp_path / "photos"
    photos.mkdir()
    images.save_png(np.full((70, 50, 3), 128, np.uint8), photos / "ok.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    command = [
        sys.executable,
        "-m",
        "pldt_jax.sample",
        f"--workdir={workdir}",
        f"--input={photos}",
        f"--output={tmp_path / 'out'}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "broken.jpg" in result.stderr and "1 file(s) could not be converted" in result.stderr
    assert (tmp_path / "out" / "ok.png").exists()

    command[3] = f"--workdir={tmp_path / 'nothing'}"
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "no checkpoint" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_and_sample_into_an_unwritable_output_are_one_clear_line(run, tmp_path):
    workdir, _, _ = run
    copy = tmp_path / "copy"
    shutil.copytree(workdir / "checkpoints", copy / "checkpoints")
    (copy / "eval").write_text("a file where eval/ goes")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    photo = tmp_path / "photo.png"
    images.save_png(np.full((70, 50, 3), 128, np.uint8), photo)
    commands = {
        "evaluate": ["pldt_jax.evaluate", f"--workdir={copy}"],
        "sample": ["pldt_jax.sample", f"--workdir={workdir}", f"--input={photo}"]
        + [f"--output={blocker / 'product.png'}"],
    }
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", *arguments], stderr=subprocess.PIPE, text=True
        )
        for name, arguments in commands.items()
    }
    expected = {
        "evaluate": f"error: File exists ({copy / 'eval'})",
        "sample": f"error: File exists ({blocker})",  # Its folder cannot be made.
    }
    for name, process in started.items():
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 1, (name, stderr)
        assert "Traceback" not in stderr, (name, stderr)
        assert stderr.strip().splitlines()[-1] == expected[name], (name, stderr)


def test_unwritable_workdir_is_one_clear_line(run, tmp_path):
    _, root, _ = run
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    config = tiny_config(root / "tfds")
    flags = [f"--config.dataset.{k}={config.dataset[k]}" for k in ("manual_dir", "data_dir")]
    command = [
        sys.executable,
        "-m",
        "pldt_jax.main",
        "--config=configs/lookbook.py",
        f"--workdir={blocker / 'run'}",
        *flags,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: Not a directory")
    assert "Traceback" not in result.stderr


def test_warmup_steps_train_the_converter_alone_first(tmp_path, caplog):
    config = tiny_config(tmp_path / "data")
    config.loss.mse_weight = 1.0
    config.loss.warmup_steps = 1
    config.eval_every_steps = 0
    config.attribute_classifier_steps = 0
    with caplog.at_level(logging.INFO):
        workdir = train.train(config, str(tmp_path / "workdir"))
    rows, _ = read_rows(Path(workdir))
    assert [row["step"] for row in rows] == [1, 2]
    assert "d_real_fake_loss" not in rows[0] and "c_mse" in rows[0]
    assert {"d_real_fake_loss", "d_domain_loss", "c_real_fake"} <= set(rows[1])
    # The progress line names the losses the step has: no discriminators during warm-up.
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert len(progress) == 2
    assert "D_rf" not in progress[0] and "mse" in progress[0]
    assert "D_rf" in progress[1] and "D_dd" in progress[1]
    assert not any("nan" in line for line in progress)
