"""A local web page: from a photo of a dressed person to its product and the shop's nearest ones.

python -m pldt_jax.demo --workdir=DIR [--catalogue=test] [--port=7860]

Needs the demo extra (`pip install ".[demo]"`, Gradio). The page, served on 127.0.0.1 only,
takes an uploaded photo or one of the run's test photos and shows the photo as the model sees
it, the generated product, and the catalogue's nearest products by distance and by DD-score,
with their scores: what `pldt_jax.search` writes, computed by the same functions. The networks
and the catalogue are loaded once, at start. A file that is not an image gets a message on the
page; no input stops the server.
"""

import os
import time
from collections.abc import Sequence
from typing import Any

import ml_collections
import numpy as np
from absl import flags, logging

from pldt_jax import cli, errors, images, prepare, search
from pldt_jax_datasets.lookbook.preprocessing import FORMATS, ImageError

NUM_EXAMPLES = 12  # Test photos offered to pick from, each of another product.
SCREEN_FACTOR = 3  # How many screen pixels a model pixel takes on the page.
MAX_UPLOAD = "50mb"  # Gradio refuses larger uploads on the page; a phone photo is 3-12 MB.


# What a handler returns: the status line, the photo as the model sees it, the generated
# product, and the two galleries of (image, caption).
Outputs = tuple[str, Any, Any, list, list]


def example_photos(
    config: ml_collections.ConfigDict, count: int = NUM_EXAMPLES
) -> list[tuple[np.ndarray, str]]:
    """Up to `count` (photo, caption) of the run's evaluation split, one per product; none
    when that dataset is not on this machine (the page then offers uploads only)."""
    name = config.dataset.eval_split
    try:
        split = prepare.load_splits(config, [name])[name]
    except prepare.DatasetError as error:
        logging.warning("No example photos: %s", error)
        return []
    _, first = np.unique(split.product_id, return_index=True)
    rows = np.sort(first)[:count]
    return [(split.photos[row], f"product {split.product_id[row]}") for row in rows]


def enlarged(image: np.ndarray) -> np.ndarray:
    """The model's 64 or 128 px picture as it is, at a size a screen shows."""
    return images.enlarged(image, SCREEN_FACTOR)


def _gallery(
    catalogue: search.Catalogue, ranked: list[tuple[int, float]]
) -> list[tuple[np.ndarray, str]]:
    return [
        (catalogue.images[row], f"{rank}. {catalogue.labels[row]}: {value:.2f}")
        for rank, (row, value) in enumerate(ranked, start=1)
    ]


def respond(
    model: search.SearchModel,
    catalogue: search.Catalogue,
    top: int,
    source: str | os.PathLike | np.ndarray | None,
) -> Outputs:
    """The page's answer to a photo file (or an already preprocessed photo): never raises.

    A file that is not a usable image, or anything that goes wrong, becomes the status line
    with empty results, so the page keeps working.
    """
    if source is None:
        return "Upload a photo, or pick one of the test photos.", None, None, [], []
    start = time.perf_counter()
    try:
        if isinstance(source, np.ndarray):
            found = search.answer(model, catalogue, source, top)
        else:
            found = search.answer_file(model, catalogue, source, top)
    except ImageError as error:
        # Pillow's own words for a file of another kind name a buffer, not the file.
        reason = (
            f"not an image of a format read here ({', '.join(FORMATS)})"
            if error.kind == "not an image"
            else str(error)
        )
        return f"**Not a usable photo**: {reason}.", None, None, [], []
    except Exception as error:  # The server must outlive any one request.
        logging.exception("Search failed")
        return f"**Something went wrong**: {error}", None, None, [], []
    milliseconds = (time.perf_counter() - start) * 1e3
    status = (
        f"Answered in {milliseconds:.0f} ms: {len(catalogue.labels)} products of the "
        f"catalogue *{os.path.basename(catalogue.name)}* ranked both ways."
    )
    return (
        status,
        enlarged(found.photo),
        enlarged(found.product),
        _gallery(catalogue, found.by_distance),
        _gallery(catalogue, found.by_dd_score),
    )


def build_page(
    model: search.SearchModel,
    catalogue: search.Catalogue,
    examples: list[tuple[np.ndarray, str]],
    top: int = 5,
) -> Any:
    """The Gradio page (a `gr.Blocks`): upload or pick, then photo, product and neighbours."""
    import gradio as gr

    def answer(source: Any) -> Outputs:
        return respond(model, catalogue, top, source)

    with gr.Blocks(title="pldt_jax: from a photo to the shop", analytics_enabled=False) as page:
        gr.Markdown(
            "## From a photo to the shop\n"
            f"A converter trained for {model.step} steps turns the photo of a person into the "
            f"product image of the top they wear ({model.config.resolution} px); the catalogue "
            "is then searched by the distance of that image to each product and by the domain "
            "discriminator's score of (photo, product)."
        )
        with gr.Row():
            upload = gr.File(label="Upload a photo", type="filepath", elem_id="upload", scale=1)
            picker = gr.Gallery(
                value=examples,
                label="... or pick a test photo",
                columns=NUM_EXAMPLES // 2,
                height=250,
                allow_preview=False,
                interactive=False,
                elem_id="examples",
                scale=2,
            )
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            pictures = {"interactive": False, "format": "png", "scale": 1, "min_width": 200}
            photo = gr.Image(label="As the model sees it", elem_id="photo", **pictures)
            product = gr.Image(label="Generated product", elem_id="product", **pictures)
            with gr.Column(scale=3):
                ranked = {"columns": top, "height": 170, "format": "png", "allow_preview": False}
                by_distance = gr.Gallery(
                    label=f"Nearest {top} products: distance to the generated image",
                    elem_id="by-distance",
                    **ranked,
                )
                by_dd_score = gr.Gallery(
                    label=f"Best {top} products: DD-score of (photo, product)",
                    elem_id="by-dd-score",
                    **ranked,
                )
        outputs = [status, photo, product, by_distance, by_dd_score]
        upload.upload(answer, inputs=upload, outputs=outputs)

        def pick(event: gr.SelectData) -> Outputs:
            return answer(examples[event.index][0])

        picker.select(pick, inputs=None, outputs=outputs)
    return page


def main(argv: Sequence[str]) -> None:
    del argv  # No positional arguments (cli.run refuses them).
    FLAGS = flags.FLAGS
    search.check_catalogue(FLAGS.catalogue)
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise errors.Error('the demo needs Gradio: pip install ".[demo]"') from None
    model = search.load_model(FLAGS.workdir)
    catalogue, _ = search.load_catalogue(FLAGS.workdir, model, FLAGS.catalogue)
    page = build_page(model, catalogue, example_photos(model.config), FLAGS.top)
    resolution = model.config.resolution  # A first answer compiles what every answer runs.
    respond(model, catalogue, FLAGS.top, np.full((resolution, resolution, 3), 255, np.uint8))
    try:
        page.launch(
            server_name="127.0.0.1",
            server_port=FLAGS.port,
            ssr_mode=False,  # Gradio's server-side rendering would need Node.js.
            max_file_size=MAX_UPLOAD,
        )
    except OSError as error:  # Gradio's message when the port is taken.
        raise errors.Error(str(error)) from error


if __name__ == "__main__":
    flags.DEFINE_string("workdir", None, "Work dir of a training run.", required=True)
    flags.DEFINE_string(
        "catalogue", "test", "train, validation, test (the run's dataset) or a folder of images."
    )
    flags.DEFINE_integer("port", 7860, "Port on 127.0.0.1.", lower_bound=1, upper_bound=65535)
    flags.DEFINE_integer("top", 5, "How many products to show, each way.", lower_bound=1)
    cli.run(main)
