"""The trainer's configuration: one typed dataclass, validated, saved as JSON.

Conventions for the penalty weight, stated once (Definition 4 of ``003_…``):
the critic maximises ``E_pd[f(D)] + E_pθ[f(−D)] − (ρ/2)·E_μ[φ(‖∇ₓD‖²)]``.
Each method is configured in its paper's own language:

* ``form="simple"`` (SGP, ``003_…``), ``"maxgp"`` (Eq. 12 of ``001_…``) and
  ``"maxal"`` (Eq. 13): the weight is ``rho`` = ρ, as written in those papers.
* ``form="gp"`` (WGAN-GP, Gulrajani et al.) and ``"lp"`` (WGAN-LP, Eq. 8 of
  ``004_…``): the weight is ``gp_lambda`` = λ of ``λ·E_μ[φ]``, so ρ = 2λ.
* ``form="lgan"`` (the Lipschitz-GAN penalty λ·k(f)², k(f) ≈ max‖∇ₓD‖ over the
  batch, Eq. 10/12 of ``002_…``): the weight is ``gp_lambda`` = λ, as that
  paper writes it, so ρ = 2λ and the term is λ·max_i ‖∇ₓD(x̂_i)‖².

Setting the weight the chosen form does not use is an error, so a
``--set rho=…`` on a WGAN-GP preset cannot silently do nothing.

This module imports neither torch nor sympy, so ``ganstab --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from stability.spec.links import LINKS
from stability.spec.measures import MEASURES
from stability.spec.penalties import FORMS, MAX_FORMS
from stability.util.checks import MAX_SEED
from stability.util.errors import UserError, checked_float, checked_int, unknown_name

#: Names the trainer accepts, read from the spec layer's registries (which import neither torch nor sympy).
TOY_DATASETS = ("8gaussians", "25gaussians", "swissroll")  # gan_train.data.toy.DATASETS (a test keeps them equal)
IMAGE_DATASETS = ("cifar10", "mnist")  # gan_train.data.images.IMAGE_DATASETS (imports torch; a test keeps them equal)
DATASET_NAMES = TOY_DATASETS + IMAGE_DATASETS
#: Networks per architecture name (gan_train.nets) and the data sets each is built for.
ARCH_DATASETS = {"mlp": TOY_DATASETS, "dcgan": ("cifar10", "mnist"), "resnet": ("cifar10",)}
MEASURE_NAMES = ("none", *MEASURES)
FORM_NAMES = (*FORMS, *MAX_FORMS)
LAMBDA_FORMS = ("gp", "lp", "lgan")  # weighted by gp_lambda (ρ = 2λ); the others by rho
LOSS_NAMES = tuple(LINKS)
GEN_LOSS_NAMES = ("linear", "minimax")
OPTIMIZER_NAMES = ("adam", "rmsprop", "sgd")
ACTIVATION_NAMES = ("relu", "leaky_relu", "tanh", "softplus", "selu")  # models.mlp.ACTIVATIONS (a test checks)
INIT_NAMES = ("torch", "normal", "tflib")  # models.mlp.INITS (a test checks)
AMP_NAMES = ("off", "bf16", "fp16")
IMAGE_METRIC_NAMES = ("is", "fid", "kid", "prc")  # gan_train.metrics.registry.METRICS (a test keeps them equal)
REFERENCE_SPLITS = ("train", "test")  # gan_train.evaluate.REFERENCE_SPLITS

#: The resolved config of a run, in its directory.
CONFIG_FILE = "config.json"

#: Keys that may change when a run is resumed: bookkeeping only, never the dynamics.
RESUMABLE_KEYS = (
    "iterations",
    "checkpoint_every",
    "keep_checkpoints",
    "log_every",
    "w1_every",
    "w1_samples",
    "plot_every",
    "tensorboard",
    "progress",
    "threads",
    "channels_last",
    "cuda_graph",
    "sync_batchnorm",
    "data_dir",
    "eval_every",
    "eval_samples",
    "is_splits",
    "inception_weights",
    "eval_metrics",
    "eval_ref",
    "download",
)


@dataclass
class TrainConfig:
    """Everything that defines a training run (defaults: Gulrajani et al.'s toy script).

    The resolved config is written to ``RUN_DIR/config.json`` and into every
    checkpoint; a run is a pure function of it (on CPU, bitwise).
    """

    # --- data and models -------------------------------------------------------
    dataset: str = "8gaussians"  # 8gaussians | 25gaussians | swissroll | cifar10 | mnist (gan_train.data)
    # ↑ or a 2-D law of the spec-file language (gan_train.data.toy.law_from_text), e.g. "discrete([[0, 0], [1, 1]])"
    data_subset: int = 0  # image data: train on N fixed training images, one per class in turn; 0 = all of them
    data_dir: str = (
        ""  # image data: the folder with cifar-10-python.tar.gz (or cifar-10-batches-py/) or MNIST IDX files
    )
    dequantize: bool = True  # image data: add U(0, one intensity level) to each pixel (gan_cifar_resnet.py l.195)
    arch: str = "mlp"  # mlp (2-D data) | dcgan (models/gulrajani_dcgan.py) | resnet (models/resnet.py, CIFAR-10)
    latent_dim: int = 2  # z ~ N(0, I) of this size (Gulrajani's image scripts: 128)
    width: int = 512  # MLP: hidden units per layer; dcgan/resnet: DIM, the base channel count
    depth: int = 3  # MLP only: hidden layers, generator and critic
    activation: str = "relu"  # MLP only: models.mlp.ACTIVATIONS
    init: str = "torch"  # MLP only: torch (PyTorch's default) | normal (N(0, 0.02²), zero bias) | tflib (gan_toy.py)
    fake: str = ""  # 2-D data: a fixed generator law (spec-file law language) instead of the network; "" = the network
    fake_images: int = 0  # image data: a fixed generator of N Gaussian-noise images (seeded by `seed`); 0 = network
    train_generator: bool = True  # False: critic-only mode, the generator is never stepped (needed by fake/fake_images)
    # --- objective (stability.spec.links, Lipschitz-GAN family of 000/002) --------------
    loss: str = "identity"  # link f; critic loss E_pg[φ(D)] + E_pd[φ(−D)], φ(x) = −f(−x); identity = WGAN
    gen_loss: str = "linear"  # linear: −E[D(G(z))]; minimax: E[f(−D(G(z)))] (the critic's own objective)
    # --- critic regulariser ------------------------------------------------------
    measure: str = "none"  # where ∇ₓD is penalised (Table 1 of 003): p_d, p_g, mu_gp, mu_mid, mu_anchor, none
    form: str = "simple"  # what is penalised: simple, gp, lp, maxgp, maxal, lgan (stability.spec.penalties)
    rho: float = 20.0  # ρ of (ρ/2)·E_μ[φ] for simple/maxgp/maxal
    gp_lambda: float = 10.0  # λ of λ·E_μ[φ] for gp/lp and of λ·max‖∇ₓD‖² for lgan (ρ = 2λ)
    maxal_lambda0: float = 0.0  # initial Lagrange multiplier λ of MaxAL (Eq. 13 of 001); it settles at −W1
    anchor: list[float] = field(default_factory=lambda: [2.0, -1.0])  # A of mu_anchor (Section 5.1 of 003)
    # ↑ images: [] = a U(−1, 1) image drawn from anchor_seed (saved as RUN_DIR/anchor.pt), [c] = every pixel c
    anchor_seed: int = 0  # seed of the random anchor image of mu_anchor on image data
    clip: float = 0.0  # weight clipping to [−c, c] after each critic step (Arjovsky: 0.01); 0 = off
    spectral_norm: bool = False  # spectral normalisation of every critic layer (torch parametrization)
    # --- optimisation -------------------------------------------------------------
    optimizer: str = "adam"  # adam | rmsprop (WGAN with clipping) | sgd (plain, no momentum; 000 App. Fig. 10–11)
    lr_d: float = 1e-4  # critic learning rate
    lr_g: float = 1e-4  # generator learning rate
    beta1: float = 0.5  # Adam β1
    beta2: float = 0.9  # Adam β2
    lr_decay: bool = False  # decay both learning rates linearly to 0 over `iterations`
    ema: float = 0.0  # β of an EMA of the generator's weights, evaluated beside it (gan_train.ema; 0.999); 0 = off
    ema_start: int = 0  # generator iterations before the EMA starts averaging (until then it copies the generator)
    n_critic: int = 5  # critic steps per generator step
    critic_warmup: int = 0  # the first N generator iterations take critic_warmup_steps critic steps each (004 §6)
    critic_warmup_steps: int = 100  # critic steps per generator iteration during the warm-up
    batch_size: int = 256  # samples per critic minibatch (data, generator and penalty points)
    gen_batch_size: int = 0  # samples per generator step; 0 = batch_size (Gulrajani's ResNet: 2 × 64)
    iterations: int = 30000  # generator iterations
    seed: int = 0  # seeds initialisation, data, noise and α
    device: str = "auto"  # torch device; auto = cuda when available, else cpu (resolve_device)
    threads: int = 0  # torch intra-op CPU threads (torch.set_num_threads); 0 keeps torch's default
    amp: str = "off"  # autocast: off | bf16 | fp16 (fp16 uses a GradScaler, CUDA only)
    channels_last: bool = False  # image nets and batches in NHWC memory (cuDNN's tensor-core layout); same numbers
    cuda_graph: bool = False  # capture the whole iteration once as a CUDA graph and replay it (gan_train/graphed.py)
    sync_batchnorm: bool = True  # under torchrun on CUDA, BatchNorm over the global batch (SyncBatchNorm)
    # --- bookkeeping --------------------------------------------------------------
    checkpoint_every: int = 1000  # generator iterations between checkpoints (and one at the end)
    keep_checkpoints: int = 5  # newest checkpoints kept; 0 keeps all
    log_every: int = 100  # iterations between metrics.jsonl/TensorBoard records
    w1_every: int = 1000  # iterations between W1 estimates (exact assignment); 0 = off
    w1_samples: int = 500  # samples per side for W1 (004 uses 500)
    plot_every: int = 5000  # iterations between 2-D plots; 0 = off
    eval_every: int = 0  # image data: iterations between IS/FID evaluations (and one at the end); 0 = off
    eval_samples: int = 50000  # generated images per evaluation (Salimans et al.: 50k)
    is_splits: int = 10  # Inception Score splits (mean ± std over them)
    inception_weights: str = ""  # pt_inception-2015-12-05-6726825d.pth; "" = torch-fidelity's cache (downloaded once)
    eval_metrics: str = "is,fid"  # image metrics of each evaluation: is, fid, kid, prc (gan_train.metrics.registry)
    eval_ref: str = "train"  # reference images of fid/kid/prc: train (CIFAR-10: 50k) or test (10k)
    download: bool = False  # image data: fetch the data set into data_dir when missing (torchvision's checksums)
    tensorboard: bool = True  # write TensorBoard scalars when the package is installed
    progress: bool = True  # tqdm progress bar

    # ---- derived -------------------------------------------------------------------

    @property
    def penalised(self) -> bool:
        return self.measure != "none"

    @property
    def uses_anchor(self) -> bool:
        """Whether the measure reads ``anchor`` (μ_g,anc)."""
        return self.penalised and MEASURES[self.measure].needs_anchor

    @property
    def fixed_generator(self) -> bool:
        """Whether G is a fixed law or set (``fake`` / ``fake_images``), with no parameters."""
        return bool(self.fake) or self.fake_images > 0

    @property
    def law_data(self) -> bool:
        """Whether ``dataset`` is a law expression rather than a registered name."""
        return self.dataset not in DATASET_NAMES

    def critic_steps(self, iteration: int) -> int:
        """Critic steps before generator iteration ``iteration`` (0-based): the warm-up schedule of ``004_…`` §6.

        ``critic_warmup_steps`` for the first ``critic_warmup`` generator iterations, ``n_critic`` after them.
        """
        return self.critic_warmup_steps if iteration < self.critic_warmup else self.n_critic

    @property
    def rho_effective(self) -> float:
        """ρ of the (ρ/2)·E_μ[φ] convention: ``rho``, or 2λ for the λ-weighted forms (gp, lp, lgan)."""
        return 2.0 * self.gp_lambda if self.form in LAMBDA_FORMS else self.rho

    def describe_regulariser(self) -> str:
        parts = []
        if self.penalised:
            weight = f"λ={self.gp_lambda:g}" if self.form in LAMBDA_FORMS else f"ρ={self.rho:g}"
            where = self.measure + (f"(A={self.anchor})" if self.uses_anchor else "")
            parts.append(f"{self.form} penalty on {where}, {weight}")
        if self.clip > 0:
            parts.append(f"weight clipping c={self.clip:g}")
        if self.spectral_norm:
            parts.append("spectral norm")
        return ", ".join(parts) or "no regulariser"

    # ---- (de)serialisation ---------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. ``config.json``); unknown keys are an error."""
        unknown = set(values) - set(field_names())
        if unknown:
            raise unknown_name("config key", sorted(unknown)[0], field_names())
        config = cls(**{k: _coerce(k, v) for k, v in values.items()})
        config.validate()
        return config

    # ---- validation ----------------------------------------------------------------

    @property
    def image_data(self) -> bool:
        return self.dataset in IMAGE_DATASETS

    @property
    def generator_batch(self) -> int:
        return self.gen_batch_size or self.batch_size

    def validate(self) -> TrainConfig:
        """Check names and ranges; raise :class:`UserError` saying what to fix."""
        if not (self.law_data and "(" in self.dataset):  # a law expression is checked by _check_additions
            _check_name("dataset", self.dataset, DATASET_NAMES)
        _check_name("architecture", self.arch, tuple(ARCH_DATASETS))
        _check(
            self.dataset in ARCH_DATASETS[self.arch] or (self.law_data and self.arch == "mlp"),
            f"arch={self.arch} is for {', '.join(ARCH_DATASETS[self.arch])}, not dataset={self.dataset}",
        )
        if self.image_data:
            _check(bool(self.data_dir), f"dataset={self.dataset} needs --set data_dir=FOLDER (the local data set)")
            _check(
                not self.w1_every and not self.plot_every,
                "w1_every and plot_every are for 2-D data; set them to 0 for images (IS/FID: eval_every)",
            )
        if self.eval_every and self.eval_every > self.iterations:
            import warnings

            warnings.warn(
                f"eval_every={self.eval_every} exceeds iterations={self.iterations}: IS/FID only at the end",
                stacklevel=2,
            )
        for key in ("gen_batch_size", "eval_every", "anchor_seed", "seed"):  # numpy refuses a negative seed
            _check(getattr(self, key) >= 0, f"{key} must be >= 0, got {getattr(self, key)}")
        _check(
            self.eval_samples >= self.is_splits >= 1,
            f"need eval_samples >= is_splits >= 1, got {self.eval_samples} and {self.is_splits}",
        )
        _check_name("penalty measure", self.measure, MEASURE_NAMES)
        _check_name("penalty form", self.form, FORM_NAMES)
        _check_name("loss", self.loss, LOSS_NAMES)
        _check_name("generator loss", self.gen_loss, GEN_LOSS_NAMES)
        _check_name("optimizer", self.optimizer, OPTIMIZER_NAMES)
        _check_name("activation", self.activation, ACTIVATION_NAMES)
        _check_name("amp mode", self.amp, AMP_NAMES)
        for key in ("latent_dim", "width", "iterations", "checkpoint_every", "log_every", "w1_samples"):
            _check(getattr(self, key) >= 1, f"{key} must be >= 1, got {getattr(self, key)}")
        _check(self.n_critic >= 1, f"n_critic must be >= 1, got {self.n_critic}")
        _check(self.depth >= 0, f"depth must be >= 0, got {self.depth}")
        for key in ("keep_checkpoints", "w1_every", "plot_every", "threads"):
            _check(getattr(self, key) >= 0, f"{key} must be >= 0 (0 turns it off), got {getattr(self, key)}")
        for key in ("rho", "gp_lambda", "lr_d", "lr_g", "clip"):
            _check(getattr(self, key) >= 0, f"{key} must be non-negative, got {getattr(self, key)}")
        for key in ("beta1", "beta2"):
            _check(0 <= getattr(self, key) < 1, f"{key} must be in [0, 1), got {getattr(self, key)}")
        _check(0 <= self.ema < 1, f"ema must be in [0, 1) (0 turns it off; 0.999 is usual), got {self.ema}")
        _check(self.ema_start >= 0, f"ema_start must be >= 0, got {self.ema_start}")
        _check(
            not self.ema or self.train_generator,
            "ema averages the generator's weights, but train_generator=false never changes them; set ema=0",
        )
        minimum = 2 if ((self.penalised and MEASURES[self.measure].draws_alpha) or self.form in MAX_FORMS) else 1
        _check(
            self.batch_size >= minimum,
            f"batch_size must be >= {minimum} for measure {self.measure!r} with form {self.form!r}, "
            f"got {self.batch_size}",
        )
        if self.uses_anchor and self.image_data:
            _check(
                len(self.anchor) in (0, 1), f"anchor on images is [] (a seeded random image) or [c], got {self.anchor}"
            )
        elif self.uses_anchor:
            _check(len(self.anchor) in (1, 2), f"anchor must have 1 or 2 components for 2-D data, got {self.anchor}")
        _check_name("reference split", self.eval_ref, REFERENCE_SPLITS)
        _check_metrics(self.eval_metrics)
        if self.amp == "fp16":
            _check(
                self.device.startswith("cuda") or (self.device == "auto" and _cuda_available()),
                "amp=fp16 needs a CUDA device; use amp=bf16 on CPU",
            )
        if self.cuda_graph:
            reason = cuda_graph_refusal(self)
            _check(reason is None, f"cuda_graph=true cannot capture this run: {reason}")
        self._check_additions()
        return self

    def _check_additions(self) -> None:
        """The keys of fixed data and generators, critic-only mode, the warm-up schedule and the MLP's init."""
        _check_name("init", self.init, INIT_NAMES)
        _check(self.init == "torch" or self.arch == "mlp", f"init={self.init} is for arch=mlp (images use tflib's)")
        _check(self.critic_warmup >= 0, f"critic_warmup must be >= 0 (0 turns it off), got {self.critic_warmup}")
        _check(self.critic_warmup_steps >= 1, f"critic_warmup_steps must be >= 1, got {self.critic_warmup_steps}")
        for key in ("data_subset", "fake_images"):
            value = getattr(self, key)
            _check(value >= 0, f"{key} must be >= 0 (0 turns it off), got {value}")
            _check(not value or self.image_data, f"{key} is for image data, not dataset={self.dataset}")
        _check(
            not self.data_subset or self.batch_size <= self.data_subset,
            f"batch_size {self.batch_size} exceeds data_subset={self.data_subset} (the images of each batch)",
        )
        if self.law_data or self.fake:
            from gan_train.data.fixed import latent_needed
            from gan_train.data.toy import law_from_text

            if self.law_data:
                law_from_text(self.dataset, "dataset")
            if self.fake:
                _check(not self.image_data, "fake is a 2-D law; on image data use fake_images=N")
                needed = latent_needed(law_from_text(self.fake, "fake"))
                _check(self.latent_dim >= needed, f"fake law needs latent_dim >= {needed}, got {self.latent_dim}")
        _check(not (self.fake and self.fake_images), "set fake (2-D law) or fake_images (images), not both")
        _check(
            not (self.fixed_generator and self.train_generator),
            "a fixed generator (fake / fake_images) has nothing to train; set train_generator=false",
        )
        _check(not (self.fixed_generator and self.eval_every), "eval_every scores a generator network; set it to 0")


def read_run_config(run_dir: str | Path, what: str = "use") -> TrainConfig:
    """The resolved config of a run directory (``RUN_DIR/config.json``): the one reader of that file.

    Args:
        run_dir: the run directory.
        what: the verb for messages (``"resume"``, ``"sample"``, ...).

    Raises:
        UserError: no ``config.json`` (not a run directory), or one that is unreadable or invalid.
    """
    run_dir = Path(run_dir)
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"cannot {what} {run_dir}: it has no {CONFIG_FILE} (not a run directory)")
    try:
        values = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot {what} {run_dir}: {CONFIG_FILE} is unreadable ({exc})") from None
    if not isinstance(values, dict):
        raise UserError(f"cannot {what} {run_dir}: {CONFIG_FILE} does not hold a JSON object")
    return TrainConfig.from_dict(values)


def write_run_config(run_dir: str | Path, config: TrainConfig) -> Path:
    """Write ``RUN_DIR/config.json`` atomically."""
    from stability.util.atomic import atomic_write

    return atomic_write(Path(run_dir) / CONFIG_FILE, config.to_json())


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


def apply_overrides(config: TrainConfig, assignments: list[str], allowed: tuple[str, ...] | None = None) -> TrainConfig:
    """Apply ``key=value`` strings (``--set``) to a copy of ``config`` and validate it.

    Values are parsed by the field's type: ``true/false`` for booleans,
    ``2,-1`` or ``[2,-1]`` for lists; numbers must be finite and sizes within
    :data:`INT_LIMITS`. Setting the weight that the chosen penalty form does
    not use (``rho`` with gp/lp, ``gp_lambda`` otherwise), or any key the method
    does not read (:func:`unused_keys`, e.g. an anchor on μ_GP), is an error.
    """
    values = config.to_dict()
    touched = []
    for text in assignments:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set expects key=value, got {text!r}")
        if key not in values:
            raise unknown_name("config key", key, field_names())
        if allowed is not None and key not in allowed and _coerce(key, raw) != values[key]:
            raise UserError(f"{key} cannot change when resuming (only {', '.join(allowed)} can)")
        values[key] = _coerce(key, raw)
        touched.append(key)
    result = TrainConfig.from_dict(values)
    if result.penalised:
        if "rho" in touched and result.form in LAMBDA_FORMS:
            raise UserError(f"form {result.form!r} is weighted by gp_lambda (λ·E_μ[φ], ρ = 2λ); set gp_lambda, not rho")
        if "gp_lambda" in touched and result.form not in LAMBDA_FORMS:
            raise UserError(f"form {result.form!r} is weighted by rho ((ρ/2)·E_μ[φ]); set rho, not gp_lambda")
    unused = unused_keys(result)
    for key in touched:
        if key in unused:  # the config's promise: a setting that would silently do nothing is an error
            raise UserError(f"--set {key}: this run does not use {key} ({unused[key]})")
    return result


_INT64 = 2**63 - 1

#: Upper bounds of integer keys: far above any published setting, below sizes that exhaust memory or time before
#: the first step (a width or batch of 1e12). Lower bounds are checked by :meth:`TrainConfig.validate`.
INT_LIMITS = {
    "width": 16_384,
    "depth": 64,
    "latent_dim": 16_384,
    "batch_size": 2**20,
    "gen_batch_size": 2**20,
    "n_critic": 10_000,
    "critic_warmup_steps": 10_000,
    "critic_warmup": 10**9,
    "ema_start": 10**9,
    "iterations": 10**9,
    "checkpoint_every": 10**9,
    "log_every": 10**9,
    "w1_every": 10**9,
    "plot_every": 10**9,
    "eval_every": 10**9,
    "keep_checkpoints": 10**6,
    "w1_samples": 20_000,  # exact assignment is cubic in it
    "eval_samples": 10**7,
    "is_splits": 10_000,
    "threads": 1024,
    "data_subset": 10**7,
    "fake_images": 10**7,
    # metric streams are seeded by seed·(1e9 + 7) + iteration, which torch needs within 64 bits
    "seed": 2**32 - 1,
    "anchor_seed": MAX_SEED,  # the commands' seed bound (stability/util/checks.py)
}


def unused_keys(config: TrainConfig) -> dict[str, str]:
    """Keys the configured method does not read, with the reason: setting one is a mistake, not a no-op."""
    unused = {}
    if not config.penalised:
        for key in ("rho", "gp_lambda", "anchor", "maxal_lambda0", "anchor_seed"):
            unused[key] = "measure=none has no penalty"
    else:
        if not config.uses_anchor:
            unused["anchor"] = unused["anchor_seed"] = f"measure {config.measure!r} has no anchor (mu_anchor has)"
        elif not config.image_data:
            unused["anchor_seed"] = "the anchor of 2-D data is the anchor key itself"
        if config.form != "maxal":
            unused["maxal_lambda0"] = f"form {config.form!r} has no Lagrange multiplier (maxal has)"
    if config.optimizer == "rmsprop":
        unused["beta1"] = unused["beta2"] = "optimizer rmsprop has no betas (adam has)"
    elif config.optimizer == "sgd":
        unused["beta1"] = unused["beta2"] = "optimizer sgd has no betas (adam has)"
    if config.arch != "mlp":
        unused["depth"] = unused["activation"] = f"arch {config.arch!r} has a fixed layout (depth/activation: mlp)"
    else:
        unused["channels_last"] = "arch 'mlp' has no convolutions (channels_last is for image architectures)"
    if not config.critic_warmup:
        unused["critic_warmup_steps"] = "critic_warmup=0 has no warm-up"
    if not config.ema:
        unused["ema_start"] = "ema=0 has no moving average of the generator"
    if not config.image_data:
        unused["download"] = "2-D data is drawn, not read (download is for image data sets)"
    if not config.eval_every:
        unused["eval_metrics"] = unused["eval_ref"] = "eval_every=0 has no evaluation"
    return unused


def cuda_graph_refusal(config: TrainConfig) -> str | None:
    """Why ``config`` cannot be captured as one CUDA graph (:mod:`gan_train.graphed`), or ``None`` when it can."""
    if config.amp == "fp16":
        return "amp=fp16 skips overflowing steps by a host-side GradScaler decision; use amp=bf16 or amp=off"
    if config.form == "maxal":
        return "MaxAL's multiplier is a host number updated after every critic step; run it eagerly"
    if config.optimizer == "sgd":
        return "torch's SGD has no capturable variant; use adam or rmsprop"
    return None


def _cuda_available() -> bool:
    import torch  # only for device=auto with amp=fp16: the module stays free of torch otherwise

    return torch.cuda.is_available()


def resolve_device(name: str) -> str:
    """``device=auto`` → ``"cuda"`` when CUDA is available, else ``"cpu"``; any other name unchanged."""
    if name != "auto":
        return name
    return "cuda" if _cuda_available() else "cpu"


def note_auto_device(config: TrainConfig, device_type: str) -> None:
    """A one-line note to stderr when ``device=auto`` chose the CPU for image data, which trains slowly there."""
    if config.device == "auto" and device_type == "cpu" and config.image_data:
        import sys

        print(
            "ganstab train: note: device=auto found no CUDA device; training on the CPU, which is slow for image "
            "presets (a GPU machine picks cuda; --set device=cpu silences this)",
            file=sys.stderr,
        )


def _check_metrics(text: str) -> None:
    """``eval_metrics`` names registered metrics (the names, without importing the registry: it imports torch)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    _check(bool(names), f"eval_metrics names no metric; valid: {', '.join(IMAGE_METRIC_NAMES)}")
    for name in names:
        _check_name("image metric", name, IMAGE_METRIC_NAMES)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def _check_name(kind: str, name: str, valid: tuple[str, ...]) -> None:
    if name not in valid:
        raise unknown_name(kind, name, valid)


def _coerce(key: str, raw: Any) -> Any:
    """Parse ``raw`` (a string from the command line, or a JSON value) as field ``key``."""
    kind = get_type_hints(TrainConfig)[key]
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        # numbers pass the one check of user numbers: finite, and sizes within INT_LIMITS
        if kind is int:
            return checked_int(raw, key, -_INT64, INT_LIMITS.get(key, _INT64))
        if kind is float:
            return checked_float(raw, key)
        if kind == list[float]:
            if isinstance(raw, str):
                raw = [p for p in raw.strip().strip("[]()").split(",") if p.strip()]
            if isinstance(raw, (str, bytes)) or not hasattr(raw, "__iter__"):
                raise TypeError
            return [checked_float(v, key) for v in raw]
        if raw is None or isinstance(raw, (dict, list)):  # a hand-edited config.json: null or a table for a name
            raise TypeError
        return str(raw)
    except UserError:
        raise
    except (TypeError, ValueError):
        name = getattr(kind, "__name__", str(kind))
        raise UserError(f"{key} expects a value of type {name}, got {raw!r}") from None
