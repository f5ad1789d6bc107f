"""Algorithm 1 as one pure, jit-compiled, data-parallel train step.

`train_step(states, batch, rng) -> (states, metrics)` updates the real/fake
discriminator, then the domain discriminator, then the converter against the
freshly updated discriminators. The converter runs forward once: its output
trains the discriminators (as a constant) and its VJP carries the converter's
gradient back, so no second forward pass is needed.

`config.loss.candidates` picks which images the discriminators judge: Algorithm 1's
one drawn candidate per sample, or every candidate of every sample, as the public
ports do (`candidate_batch`).
"""

from collections.abc import Callable
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax.training import train_state
from jax.sharding import Mesh

from pldt_jax import augment, losses, sharding
from pldt_jax.config import CANDIDATE_SCHEMES, FEATURE_MATCHED
from pldt_jax.images import to_float
from pldt_jax.models import create_models
from pldt_jax.optimizers import create_optimizer

# What each sample's candidate I is in Algorithm 1.
ASSOCIATED, IRRELEVANT, GENERATED = 0, 1, 2

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


class TrainState(train_state.TrainState):
    batch_stats: Any


@flax.struct.dataclass
class States:
    converter: TrainState
    real_fake: TrainState
    domain: TrainState


def create_states(config: ml_collections.ConfigDict, rng: jax.Array, num_steps: int) -> States:
    """Freshly initialised converter and discriminators (weights from N(0, 0.02))."""
    converter, real_fake, domain = create_models(config)
    size = config.resolution
    image = jnp.zeros((1, size, size, 3), jnp.float32)
    pair = jnp.zeros((1, size, size, 6), jnp.float32)

    def make(model: nn.Module, key: jax.Array, x: jax.Array) -> TrainState:
        variables = model.init(key, x, train=False)
        return TrainState.create(
            apply_fn=model.apply,
            params=variables["params"],
            batch_stats=variables["batch_stats"],
            tx=create_optimizer(config, num_steps),
        )

    keys = jax.random.split(rng, 3)
    return States(
        converter=make(converter, keys[0], image),
        real_fake=make(real_fake, keys[1], image),
        domain=make(domain, keys[2], pair),
    )


def apply_train(state: TrainState, params: Any, x: jax.Array) -> tuple[jax.Array, Any]:
    """Forward in training mode: batch statistics of this batch, and the updated running ones."""
    out, mutated = state.apply_fn(
        {"params": params, "batch_stats": state.batch_stats},
        x,
        train=True,
        mutable=["batch_stats"],
    )
    return out, mutated["batch_stats"]


def discriminator_features(state: TrainState, x: jax.Array) -> list[jax.Array]:
    """A discriminator's batch-norm outputs on `x` in training mode, the features that
    `losses.feature_matching` compares (the running statistics are left as they were)."""
    _, captured = state.apply_fn(
        {"params": state.params, "batch_stats": state.batch_stats},
        x,
        train=True,
        mutable=["batch_stats", "intermediates"],
        capture_intermediates=lambda module, _: isinstance(module, nn.BatchNorm),
    )
    return jax.tree.leaves(captured["intermediates"])


def feature_distance(state: TrainState, products: jax.Array, generated: jax.Array) -> jax.Array:
    """`losses.feature_matching` of a discriminator's features on each sample's product and
    on its generated image, the two normalised as one batch."""
    features = discriminator_features(state, jnp.concatenate([products, generated]))
    half = products.shape[0]
    return losses.feature_matching([f[:half] for f in features], [f[half:] for f in features])


def update(state: TrainState, grads: Any, batch_stats: Any) -> TrainState:
    return state.apply_gradients(grads=grads).replace(batch_stats=batch_stats)


def update_discriminator(
    state: TrainState,
    inputs: jax.Array,
    labels: jax.Array,
    loss: Callable[[jax.Array, jax.Array], jax.Array],
) -> tuple[TrainState, jax.Array, jax.Array, jax.Array]:
    """One descent step of a discriminator: (new state, loss, D's probabilities, grad norm)."""

    def loss_fn(params):
        logits, stats = apply_train(state, params, inputs)
        return loss(logits, labels), (logits, stats)

    (value, (logits, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    return update(state, grads, stats), value, jax.nn.sigmoid(logits), optax.global_norm(grads)


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    mask = mask.astype(values.dtype)
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def draw_candidates(rng: jax.Array, batch_size: int, use_negatives: bool) -> jax.Array:
    """Per sample, which of (associated, irrelevant, generated) is I, with equal probability.

    Without negatives ("C+RF+DD-Neg") I is associated or generated, half and half.
    """
    if use_negatives:
        return jax.random.randint(rng, (batch_size,), 0, 3)
    return jnp.where(jax.random.bernoulli(rng, 0.5, (batch_size,)), GENERATED, ASSOCIATED)


def candidate_batch(
    scheme: str,
    choice: jax.Array | None,
    target: jax.Array,
    negative: jax.Array,
    generated: jax.Array,
    use_negatives: bool,
) -> tuple[jax.Array, jax.Array]:
    """The images the discriminators judge, and each one's kind (ASSOCIATED, ...).

    'sampled' (Algorithm 1): sample i's drawn candidate `choice[i]`, B images.
    'all' (the public ports): every sample's associated, irrelevant (with negatives)
    and generated image, 3B (2B) images in one batch, so that batch norm sees them
    together as it sees the mixed sampled batch. (The ports run each kind as its own
    batch and judge the converter on generated images alone, normalised unlike what
    the discriminator learnt on.) Built once with the converter's output held constant
    (the discriminators' updates) and once with it live (the converter's loss), so the
    converter is judged on the batch the discriminators were trained on.
    """
    if scheme == "sampled":
        pick = choice[:, None, None, None]
        images = jnp.where(
            pick == ASSOCIATED, target, jnp.where(pick == IRRELEVANT, negative, generated)
        )
        return images, choice
    if scheme == "all":
        parts = [(target, ASSOCIATED), (negative, IRRELEVANT), (generated, GENERATED)]
        if not use_negatives:
            del parts[1]
        images = jnp.concatenate([x for x, _ in parts])
        kinds = jnp.concatenate([jnp.full(x.shape[0], kind, jnp.int32) for x, kind in parts])
        return images, kinds
    raise ValueError(f"unknown candidate scheme {scheme!r}; expected one of {CANDIDATE_SCHEMES}")


def with_source(source: jax.Array, images: jax.Array) -> jax.Array:
    """Domain discriminator inputs: each candidate beside its own sample's source."""
    copies = images.shape[0] // source.shape[0]
    return jnp.concatenate([jnp.concatenate([source] * copies), images], axis=-1)


def warmup_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The config of `loss.warmup_steps`' steps: the same run without the discriminators,
    so their step trains the converter on the pixel terms (`losses.pixel_terms`) alone and
    costs about half as much."""
    warmup = ml_collections.ConfigDict(config.to_dict())
    warmup.loss.real_fake_weight = 0.0
    warmup.loss.domain_weight = 0.0
    return warmup


def make_train_step(
    config: ml_collections.ConfigDict,
) -> Callable[[States, Batch, jax.Array], tuple[States, Metrics]]:
    """The step for this config's losses; the switches are static, so unused parts cost nothing."""
    rf_weight = float(config.loss.real_fake_weight)
    domain_weight = float(config.loss.domain_weight)
    pixel_terms = losses.pixel_terms(config.loss, adversarial=rf_weight > 0 or domain_weight > 0)
    matched = FEATURE_MATCHED[config.loss.feature_matching_discriminators]
    match_real_fake = rf_weight > 0 and "real_fake" in matched
    match_domain = domain_weight > 0 and "domain" in matched
    feature_matching_weight = (
        float(config.loss.feature_matching_weight) if match_real_fake or match_domain else 0.0
    )
    use_negatives = bool(config.loss.use_negatives)
    converter_loss_kind = config.loss.converter_loss
    scheme = config.loss.candidates
    skip_nonfinite = bool(config.skip_nonfinite_steps)
    flip, max_shift = bool(config.dataset.flip), int(config.dataset.max_shift)

    def train_step(states: States, batch: Batch, rng: jax.Array) -> tuple[States, Metrics]:
        if flip or max_shift:
            # A key of its own, so the candidates drawn from `rng` stay those without jitter.
            batch = augment.augment_batch(jax.random.fold_in(rng, 1), batch, flip, max_shift)
        # uint8 -> float on the device, so the host moves 4x fewer bytes.
        source, target, negative = (to_float(batch[k]) for k in ("source", "target", "negative"))
        # 'all' judges every candidate, so it draws none.
        sampled = scheme == "sampled"
        choice = draw_candidates(rng, source.shape[0], use_negatives) if sampled else None

        def candidates(image):
            return candidate_batch(scheme, choice, target, negative, image, use_negatives)

        metrics: Metrics = {}

        conv = states.converter
        generated, pullback, conv_stats = jax.vjp(
            lambda p: apply_train(conv, p, source), conv.params, has_aux=True
        )
        fake = jax.lax.stop_gradient(generated)
        candidate, kinds = candidates(fake)

        real_fake = states.real_fake
        if rf_weight > 0:
            is_real = kinds != GENERATED
            real_fake, loss, prob, grad_norm = update_discriminator(
                real_fake, candidate, is_real, losses.real_fake_loss
            )
            metrics |= {
                "d_real_fake_loss": loss,
                "grad_norm/real_fake": grad_norm,
                "d_real_fake/real": masked_mean(prob, is_real),
                "d_real_fake/generated": masked_mean(prob, ~is_real),
            }

        domain = states.domain
        if domain_weight > 0:
            domain, loss, prob, grad_norm = update_discriminator(
                domain, with_source(source, candidate), kinds == ASSOCIATED, losses.domain_loss
            )
            metrics |= {
                "d_domain_loss": loss,
                "grad_norm/domain": grad_norm,
                "d_domain/associated": masked_mean(prob, kinds == ASSOCIATED),
                "d_domain/irrelevant": masked_mean(prob, kinds == IRRELEVANT),
                "d_domain/generated": masked_mean(prob, kinds == GENERATED),
            }

        def converter_loss_fn(image):
            # Against the updated discriminators (frozen here, their statistics discarded),
            # on the candidate batch they were trained on, generated positions live.
            seen, _ = candidates(image)
            is_generated = kinds == GENERATED
            terms = {}
            if rf_weight > 0:
                logits, _ = apply_train(real_fake, real_fake.params, seen)
                terms["c_real_fake"] = rf_weight * losses.converter_adversarial_loss(
                    logits, converter_loss_kind, is_generated
                )
            if domain_weight > 0:
                logits, _ = apply_train(domain, domain.params, with_source(source, seen))
                terms["c_domain"] = domain_weight * losses.converter_adversarial_loss(
                    logits, converter_loss_kind, is_generated
                )
            for name, (weight, distance) in pixel_terms.items():
                terms[f"c_{name}"] = weight * distance(image, target)
            if feature_matching_weight > 0:
                distances = []
                if match_real_fake:
                    distances.append(feature_distance(real_fake, target, image))
                if match_domain:
                    distances.append(
                        feature_distance(
                            domain, with_source(source, target), with_source(source, image)
                        )
                    )
                terms["c_feature_matching"] = feature_matching_weight * (
                    sum(distances) / len(distances)
                )
            total = sum(terms.values())
            return total, terms

        (loss, terms), image_grad = jax.value_and_grad(converter_loss_fn, has_aux=True)(generated)
        (grads,) = pullback(image_grad)
        converter = update(conv, grads, conv_stats)
        metrics |= terms | {
            "converter_loss": loss,
            "grad_norm/converter": optax.global_norm(grads),
            "mse": losses.mse(fake, target),
        }
        new_states = States(converter, real_fake, domain)
        # Gradient norms are finite exactly when every gradient is; the updated
        # parameters are checked too, since a huge step can overflow them.
        scalars = jnp.stack(jax.tree.leaves(metrics))
        updated = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(new_states)]
        finite = jnp.all(jnp.isfinite(scalars)) & jnp.all(jnp.stack(updated))
        metrics["finite"] = finite
        if skip_nonfinite:
            new_states = jax.tree.map(
                lambda new, old: jnp.where(finite, new, old), new_states, states
            )
        return new_states, metrics

    return train_step


def create_replicated_states(
    config: ml_collections.ConfigDict, rng: jax.Array, num_steps: int, mesh: Mesh
) -> States:
    """`create_states`, created replicated on the mesh (every process computes the same ones)."""
    return jax.jit(
        lambda key: create_states(config, key, num_steps), out_shardings=sharding.replicated(mesh)
    )(rng)


def sharded_train_step(
    config: ml_collections.ConfigDict, mesh: Mesh
) -> Callable[[States, Batch, jax.Array], tuple[States, Metrics]]:
    """`make_train_step` jit-compiled in global view: the batch split over the mesh, the states
    replicated.

    Batch norm statistics and the loss means are then those of the global batch,
    so the result does not depend on how many devices share it.
    """
    replicated, batch = sharding.replicated(mesh), sharding.batch_sharding(mesh)
    return jax.jit(
        make_train_step(config),
        in_shardings=(replicated, batch, replicated),
        out_shardings=(replicated, replicated),
        donate_argnums=(0,),
    )
