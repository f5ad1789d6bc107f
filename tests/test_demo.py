"""The demo: its answers to photos and to bad files, and its page in a real browser.

The browser test starts `python -m pldt_jax.demo` on 127.0.0.1 and drives headless Chromium
through selenium (Debian: `apt-get install chromium chromium-driver`, which .ci/run does as
root). PLDT_DEMO_WORKDIR=DIR runs it on that work dir instead of a tiny trained one, and
PLDT_DEMO_SCREENSHOT=PNG saves the page with its answer to a test photo (README's screenshot).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pldt_jax import demo, images, prepare, search, split_arrays
from pldt_jax_datasets.lookbook.preprocessing import load_and_preprocess

TIMEOUT = 180  # Seconds for the server to start, or the page to answer, on a loaded machine.


@pytest.fixture(scope="module")
def model(tiny_run):
    return search.load_model(tiny_run)


@pytest.fixture(scope="module")
def catalogue(tiny_run, model):
    return search.load_catalogue(tiny_run, model, "test")[0]


def test_answers_a_photo_of_any_size(model, catalogue, tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (90, 160), (200, 30, 30)).save(photo)
    status, seen, product, by_distance, by_dd_score = demo.respond(model, catalogue, 5, photo)
    assert status.startswith("Answered in")
    np.testing.assert_array_equal(seen, demo.enlarged(load_and_preprocess(photo, 64)))
    assert product.shape == (192, 192, 3) and product.dtype == np.uint8
    found = search.answer_file(model, catalogue, photo, 5)
    for gallery, ranked in ((by_distance, found.by_distance), (by_dd_score, found.by_dd_score)):
        assert len(gallery) == len(catalogue.labels)  # 2 test products, fewer than 5.
        for (image, caption), (row, score) in zip(gallery, ranked, strict=True):
            np.testing.assert_array_equal(image, catalogue.images[row])
            assert caption.endswith(f"{catalogue.labels[row]}: {score:.2f}")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some notes", "not an image of a format read here"),
        (b"", "empty file"),
        (b"\xff\xd8\xff\xe0 truncated", "Not a usable photo"),
    ],
)
def test_refuses_bad_files_with_a_message(model, catalogue, tmp_path, content, message):
    path = tmp_path / "upload.jpg"
    path.write_bytes(content)
    status, *pictures = demo.respond(model, catalogue, 5, path)
    assert message in status
    assert pictures == [None, None, [], []]


def test_any_failure_is_a_message_not_a_crash(model, catalogue, tmp_path):
    broken = catalogue._replace(images=np.zeros((2, 32, 32, 3), np.uint8))  # Wrong size.
    photo = tmp_path / "photo.png"
    images.save_png(np.full((64, 64, 3), 90, np.uint8), photo)
    status, *pictures = demo.respond(model, broken, 5, photo)
    assert status.startswith("**Something went wrong**") and pictures == [None, None, [], []]
    assert demo.respond(model, catalogue, 5, None)[0].startswith("Upload a photo")


@pytest.fixture
def chromium() -> tuple[str, str]:
    """(Chromium, chromedriver), or the test is skipped saying what to install."""
    pytest.importorskip("gradio", reason="the demo extra is not installed: pip install '.[demo]'")
    pytest.importorskip("selenium", reason="selenium is not installed: pip install '.[demo]'")
    binary = next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
    )
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.skip(
            "no Chromium and chromedriver on this machine: apt-get install chromium "
            "chromium-driver (Debian; .ci/run installs them when it runs as root)"
        )
    return binary, driver


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(request, tmp_path):
    """(URL, work dir, process) of a demo started for the test; stopped after it."""
    workdir = os.environ.get("PLDT_DEMO_WORKDIR") or request.getfixturevalue("tiny_run")
    port, url = free_port(), None
    command = [sys.executable, "-m", "pldt_jax.demo", f"--workdir={workdir}", f"--port={port}"]
    with open(tmp_path / "demo.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT
        while url is None:
            assert process.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "the demo did not start"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).close()
                url = f"http://127.0.0.1:{port}/"
            except OSError:
                time.sleep(1)
        yield url, Path(workdir), process
        process.terminate()
        process.wait(timeout=30)


def test_page_in_a_real_browser(chromium, server, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    binary, driver_path = chromium
    url, workdir, process = server
    model = search.load_model(workdir)
    split = prepare.load_splits(model.config, ["test"])["test"]
    num_products = len(split_arrays.products(split).product_id)
    photo = tmp_path / "photo.png"
    images.save_png(split.source[0], photo)
    (tmp_path / "notes.txt").write_text("not a photo")

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,960")
    browser = webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=options)
    wait = WebDriverWait(browser, TIMEOUT)
    find = browser.find_elements

    def shown(selector: str) -> int:
        """How many images matching `selector` are loaded and drawn."""
        script = "return arguments[0].complete && arguments[0].naturalWidth > 0"
        return sum(bool(browser.execute_script(script, e)) for e in find(By.CSS_SELECTOR, selector))

    def status() -> str:
        return browser.find_element(By.ID, "status").text

    def answered() -> bool:
        return (
            status().startswith("Answered")
            and shown("#product img") == 1
            and shown("#by-distance img") == shown("#by-dd-score img") == min(5, num_products)
        )

    try:
        browser.get(url)
        wait.until(lambda _: find(By.CSS_SELECTOR, "#upload input[type=file]"))
        find(By.CSS_SELECTOR, "#upload input[type=file]")[0].send_keys(str(photo))
        wait.until(lambda _: answered())
        assert "1. " in browser.find_element(By.ID, "by-distance").text
        if os.environ.get("PLDT_DEMO_SCREENSHOT"):
            browser.save_screenshot(os.environ["PLDT_DEMO_SCREENSHOT"])

        find(By.CSS_SELECTOR, "#upload button[aria-label='Clear']")[0].click()
        wait.until(lambda _: find(By.CSS_SELECTOR, "#upload input[type=file]"))
        find(By.CSS_SELECTOR, "#upload input[type=file]")[0].send_keys(str(tmp_path / "notes.txt"))
        wait.until(lambda _: "Not a usable photo" in status())
        assert shown("#product img") == 0 and shown("#by-distance img") == 0

        find(By.CSS_SELECTOR, "#examples .thumbnail-item")[0].click()  # Still working.
        wait.until(lambda _: answered())
        assert process.poll() is None
    finally:
        browser.quit()


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("--port=0", "--port=0"),
        ("--catalogue=shop_that_is_not_there", "--catalogue must be one of"),
        ("--workdir=EMPTY", "no checkpoint"),
    ],
)
def test_command_line_bad_arguments_are_one_line(tiny_run, tmp_path, argument, message):
    pytest.importorskip("gradio", reason="the demo extra is not installed: pip install '.[demo]'")
    arguments = {"--workdir": str(tiny_run)}
    name, value = argument.split("=")
    arguments[name] = str(tmp_path) if value == "EMPTY" else value
    command = [sys.executable, "-m", "pldt_jax.demo", *(f"{k}={v}" for k, v in arguments.items())]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, result.stderr
    assert "Traceback" not in result.stderr
