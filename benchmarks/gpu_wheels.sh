#!/usr/bin/env bash
# Python 3.12 wheels, in .whl/, of what the project needs beyond the GPU machines' image: that image
# (KINDS.md of the device tool) has jax, flax, optax, orbax, torch, absl, pillow, protobuf, etils
# and the rest, but not ml_collections (every config and benchmark), tensorboardX (the train
# loop's log), tensorflow-datasets and the packages it needs beyond the image (the train loop's
# data; importlib_resources is one, imported when TFDS looks up a builder's files). Run here,
# where PyPI is reachable; the device run then carries .whl and starts with
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#     --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit;
# (docs/performance.md, "GPU", has the whole command). Usage: benchmarks/gpu_wheels.sh (14 wheels, 9.7 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
  manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl \
  ml_collections==1.1.0 tensorflow-datasets==4.9.10 array_record==0.8.6 dm-tree==0.1.10 \
  immutabledict==4.3.1 simple_parsing==0.1.9 docstring_parser==0.18.0 \
  tensorflow-metadata==1.21.0 googleapis-common-protos==1.76.0 termcolor==3.3.0 toml==0.10.2 \
  tensorboardX==2.6.5 importlib_resources==7.1.0
# promise is published as a source archive only: build its (pure Python) wheel here.
python -m pip wheel -q --no-deps -w .whl promise==2.3
ls .whl
du -sh .whl
