"""Where arrays live: a 1-D `data` mesh over every device, the batch split over it, states
replicated. Pure data parallelism, the same on one device, several, or several processes.
"""

from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def create_mesh(devices: list | None = None) -> Mesh:
    """A one-dimensional mesh over every device (of every process): pure data parallelism."""
    devices = jax.devices() if devices is None else devices
    return Mesh(devices, (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """The leading (batch) axis split over the mesh's data axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """A whole copy on every device of the mesh (the states)."""
    return NamedSharding(mesh, PartitionSpec())


def global_batch(local: dict[str, Any], mesh: Mesh) -> dict[str, jax.Array]:
    """This process's rows of each image kind -> global arrays split over the mesh's data axis."""
    sharding = batch_sharding(mesh)
    return {
        key: jax.make_array_from_process_local_data(sharding, local[key])
        for key in ("source", "target", "negative")
    }


def local_copy(tree: Any) -> Any:
    """Replicated arrays as arrays on one local device, so one process alone can run them."""

    def local(x: Any) -> Any:
        if isinstance(x, jax.Array) and x.sharding.is_fully_replicated:
            return x.addressable_data(0)
        return x

    return jax.tree.map(local, tree)
