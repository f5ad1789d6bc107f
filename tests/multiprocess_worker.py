"""One process of a jax.distributed job running the PLDT train step, for test_multiprocess.py.

python tests/multiprocess_worker.py PORT NUM_PROCESSES PROCESS_ID OUTPUT.npz

Every process builds the same tiny config, data and initial states from fixed seeds,
reads only its own rows of each global batch (as train.py does) and runs NUM_STEPS
steps; process 0 writes every parameter and batch statistic to OUTPUT.npz. Run with
JAX_PLATFORMS=cpu and one CPU device per process.
"""

import sys

import jax
import numpy as np
from flax import traverse_util

from pldt_jax import config as config_lib
from pldt_jax import input_pipeline, sharding, split_arrays, train_step

NUM_STEPS = 2
NUM_EXAMPLES = 16
NUM_PRODUCTS = 8


def tiny_config():
    config = config_lib.default_config()
    config.model.width = 1 / 32
    config.batch_size = 4
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.05
    config.total_steps = NUM_STEPS
    return config


def tiny_split(resolution: int) -> split_arrays.SplitArrays:
    """Random images, two photos per product; the same in every process (fixed seed)."""
    rng = np.random.default_rng(0)
    shape = (NUM_EXAMPLES, resolution, resolution, 3)
    product_id = np.arange(NUM_EXAMPLES) // 2
    negative_product_id = (product_id + 1) % NUM_PRODUCTS
    target = rng.integers(0, 256, shape, np.uint8)[product_id * 2]  # One image per product.
    unknown = np.full(NUM_EXAMPLES, -1)
    return split_arrays.load_split(
        split_arrays.ArraySource(
            source=rng.integers(0, 256, shape, np.uint8),
            target=target,
            negative=target[negative_product_id * 2],
            product_id=product_id,
            negative_product_id=negative_product_id,
            image_id=np.arange(NUM_EXAMPLES),
            category=unknown,
            color=unknown,
            pattern=unknown,
            pattern_color=unknown,
        )
    )


def main(port: int, num_processes: int, process_id: int, output: str) -> None:
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        coordinator_bind_address=f"127.0.0.1:{port}",  # Loopback only, not every interface.
        num_processes=num_processes,
        process_id=process_id,
        cluster_detection_method="deactivate",  # No probing of cloud or cluster environments.
        initialization_timeout=120,
    )
    assert jax.process_count() == jax.device_count() == num_processes, jax.devices()

    config = tiny_config()
    batches = input_pipeline.BatchIterator(
        tiny_split(config.resolution),
        config.batch_size,
        config.seed,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    mesh = sharding.create_mesh()
    init_rng, step_rng = jax.random.split(jax.random.key(config.seed))
    states = train_step.create_replicated_states(config, init_rng, NUM_STEPS, mesh)
    step_fn = train_step.sharded_train_step(config, mesh)
    for step in range(1, NUM_STEPS + 1):
        batch = sharding.global_batch(next(batches), mesh)
        states, _ = step_fn(states, batch, jax.random.fold_in(step_rng, step))

    if jax.process_index() == 0:
        networks = {
            name: {"params": state.params, "batch_stats": state.batch_stats}
            for name, state in [
                ("converter", states.converter),
                ("real_fake", states.real_fake),
                ("domain", states.domain),
            ]
        }
        flat = traverse_util.flatten_dict(networks, sep="/")
        # Replicated: this process's copy is the whole value.
        np.savez(output, **{key: np.asarray(x.addressable_data(0)) for key, x in flat.items()})
    jax.distributed.shutdown()


if __name__ == "__main__":
    port, num_processes, process_id, output = sys.argv[1:]
    main(int(port), int(num_processes), int(process_id), output)
