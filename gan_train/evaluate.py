"""Image metrics of a run's generator or of any images: the one evaluation used by the loop and by ``ganstab eval``.

The Inception network is torch-fidelity's (:mod:`gan_train.metrics.inception`), from a local weights file or
torch-fidelity's own cache; the metrics are those of the registry (:mod:`gan_train.metrics.registry`: ``is``,
``fid``, ``kid``, ``prc``), all from one pass of the network. The reference images are a split of the run's data
set (``train``: CIFAR-10's 50,000 training images, the usual for FID; ``test``: its 10,000 test images), whose
statistics are computed once and cached, keyed by checksums of the data and of the weights
(:mod:`gan_train.metrics.reference`). Samples are drawn with a seeded latent generator, so an evaluation is a function
of the checkpoint, the weights and the seed; images from elsewhere (an array, a folder of PNGs) go through the same
:meth:`ImageEvaluator.score_images`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from stability.util.errors import UserError, unknown_name

#: Images per generator call in an evaluation (Gulrajani's ``get_inception_score`` draws 100 at a time).
EVAL_BATCH = 100

#: Where reference statistics are cached unless ``$GANSTAB_CACHE`` says otherwise.
DEFAULT_CACHE = Path.home() / ".cache" / "ganstab"

#: The splits a reference can be: the data set's training images or its held-out test images.
REFERENCE_SPLITS = ("train", "test")


def cache_dir() -> Path:
    return Path(os.environ.get("GANSTAB_CACHE") or DEFAULT_CACHE) / "inception-reference"


def check_image_metrics_dataset(dataset: str) -> None:
    """IS, FID, KID and precision/recall use an ImageNet Inception network on RGB images: CIFAR-10 only."""
    if dataset != "cifar10":
        raise UserError(
            f"IS, FID, KID and precision/recall use an ImageNet Inception network on RGB images: cifar10 only, "
            f"not {dataset}"
        )


def check_evaluation_ready(config: Any, progress: bool = True) -> Path:
    """Before a run trains toward its first evaluation: the Inception weights (checked, or fetched into
    torch-fidelity's cache when no path is set) and the reference split's files; a one-line :class:`UserError`
    otherwise. Returns the checked weights file.

    Reading the weights file (``torch.load(weights_only=True)`` and the key/shape check) takes a second; without
    this check a missing or damaged file was found at the first evaluation, ``eval_every`` iterations in.
    """
    from gan_train.data.images import load_images
    from gan_train.metrics.inception import resolve_weights
    from gan_train.metrics.registry import needs_reference, parse_metrics

    check_image_metrics_dataset(config.dataset)
    path = resolve_weights(config.inception_weights, progress)
    if needs_reference(parse_metrics(_config_metrics(config))):
        load_images(config.dataset, config.data_dir, _config_split(config), download=getattr(config, "download", False))
    return path


def _config_metrics(config: Any) -> str:
    return getattr(config, "eval_metrics", "") or "is,fid"


def _config_split(config: Any) -> str:
    return getattr(config, "eval_ref", "") or "train"


def check_split(split: str) -> str:
    if split not in REFERENCE_SPLITS:
        raise unknown_name("reference split", split, REFERENCE_SPLITS)
    return split


class ImageEvaluator:
    """The image metrics of generators (or image sets) against one reference, network and statistics loaded once.

    Args:
        config: a run's :class:`~gan_train.config.TrainConfig` (its data set, data folder, latent size, IS splits,
            and ``eval_metrics`` / ``eval_ref`` when ``metrics`` / ``ref_split`` are not given).
        weights: path to ``pt_inception-2015-12-05-6726825d.pth``; ``None`` or ``""`` for torch-fidelity's cached
            copy (downloaded when missing).
        metrics: registered names (``"is,fid,kid,prc"`` or a sequence); default: the config's ``eval_metrics``.
        device: where Inception runs.
        progress: tqdm bars.
        world: under torchrun, the processes an evaluation is sharded over (every rank must call it); rank 0
            computes missing reference statistics first and the others then read them from the cache.
        ref_split: the reference images, ``"train"`` or ``"test"``; default: the config's ``eval_ref``.
        download: fetch the data set into ``config.data_dir`` when it is missing (torchvision's download).
        options: the metrics' settings (:class:`~gan_train.metrics.registry.MetricOptions`); default: the papers',
            with the config's ``is_splits``.
    """

    def __init__(
        self,
        config: Any,
        weights: str | None,
        metrics: Any = None,
        device: Any = "cpu",
        progress: bool = True,
        world: Any = None,
        *,
        ref_split: str | None = None,
        download: bool | None = None,
        options: Any = None,
    ):
        from gan_train.metrics.inception import build_inception, checked_device, resolve_weights
        from gan_train.metrics.registry import MetricOptions, parse_metrics, parts_needed

        check_image_metrics_dataset(config.dataset)
        device = checked_device(device)  # before any download or pass
        self.config, self.progress, self.world = config, progress, world
        self.metrics = parse_metrics(_config_metrics(config) if metrics is None else metrics)
        self.ref_split = check_split(_config_split(config) if ref_split is None else ref_split)
        download = getattr(config, "download", False) if download is None else download
        main = world is None or world.is_main
        weights_path = None
        for turn in (True, False):  # rank 0 fetches the weights first when they must be downloaded
            if turn == main:
                weights_path = resolve_weights(weights, progress and main)
            if world is not None:
                world.barrier()
        self.extractor = build_inception(weights_path, device)
        device = next(self.extractor.parameters()).device
        self.options = options or MetricOptions(is_splits=config.is_splits, device=device)
        self.reference = None
        wanted = parts_needed(self.metrics, reference=True)
        if wanted:
            from gan_train.data.images import load_images
            from gan_train.metrics.reference import array_sha256, file_sha256, reference_statistics

            # every rank reads the split (its checksum keys the cache); a download is staged, so ranks may race
            images, _ = load_images(config.dataset, config.data_dir, self.ref_split, download=download)
            keys = (array_sha256(images), file_sha256(weights_path))
            for turn in (True, False):  # rank 0 computes (or reads) the statistics, then the others read the cache
                if turn == main:
                    self.reference = reference_statistics(
                        images,
                        self.extractor,
                        cache_dir(),
                        *keys,
                        progress=progress and main,
                        features="features" in wanted,
                        split=self.ref_split,
                    )
                if world is not None:
                    world.barrier()

    @torch.no_grad()
    def __call__(self, generator: torch.nn.Module, n_samples: int, seed: int = 0, batch_size: int = EVAL_BATCH) -> dict:
        """The metrics of ``n_samples`` images of ``generator`` (see :meth:`score_images` for the record)."""
        from gan_train.metrics.inception import evaluate_generator

        device = next(generator.parameters()).device
        # every latent code at once: image i has code i whatever the batches or the number of processes
        codes = torch.randn(n_samples, self.config.latent_dim, generator=torch.Generator().manual_seed(seed))
        offset = 0
        was_training = generator.training
        generator.eval()

        def sample(b: int) -> torch.Tensor:
            nonlocal offset
            z, offset = codes[offset : offset + b], offset + b
            return generator(z.to(device)).float()

        def skip(k: int) -> None:
            nonlocal offset
            offset += k

        try:
            return evaluate_generator(
                sample,
                n_samples=n_samples,
                batch_size=batch_size,
                extractor=self.extractor,
                reference_stats=self.reference,
                metrics=self.metrics,
                options=self.options,
                progress=self.progress,
                world=self.world,
                skip_fn=skip,
            )
        finally:
            generator.train(was_training)

    def score_images(self, images: Any, batch_size: int = EVAL_BATCH) -> dict:
        """The metrics of a set of images made anywhere: uint8 (N, 3, H, W), array or tensor.

        The same path as a generator's (:func:`gan_train.metrics.inception.evaluate_generator`, batches of
        :func:`~gan_train.metrics.inception.even_batches`), the images taken in order.

        Returns:
            ``{"metrics", "n_samples", "ref_split", "ref_n", ...}`` and each metric's values and counts.
        """
        from gan_train.metrics.inception import evaluate_generator

        x = images if torch.is_tensor(images) else torch.from_numpy(images)
        offset = 0

        def take(b: int) -> torch.Tensor:
            nonlocal offset
            batch, offset = x[offset : offset + b], offset + b
            return batch

        return evaluate_generator(
            take,
            n_samples=len(x),
            batch_size=batch_size,
            extractor=self.extractor,
            reference_stats=self.reference,
            metrics=self.metrics,
            options=self.options,
            progress=self.progress,
        )


#: Generated images of one ``ganstab eval`` at most (10⁷ is 200× the usual 50,000; more is a typo).
MAX_EVAL_IMAGES = 10**7


def _run_of(checkpoint: Path) -> Path:
    """The run directory a checkpoint file belongs to (``RUN/best.pt`` or ``RUN/checkpoints/ckpt_*.pt``)."""
    from gan_train.config import CONFIG_FILE

    for folder in (checkpoint.parent, checkpoint.parent.parent):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise UserError(f"{checkpoint} is not inside a run directory (no {CONFIG_FILE} beside it or one folder up)")


def evaluate_source(
    source: str | os.PathLike,
    *,
    checkpoint: int | None = None,
    metrics: str | None = None,
    ref: str | None = None,
    n: int | None = None,
    seed: int = 0,
    weights: str | None = None,
    data_dir: str | None = None,
    dataset: str = "cifar10",
    download: bool = False,
    device: str = "auto",
    batch_size: int = EVAL_BATCH,
    is_splits: int | None = None,
    key: str | None = None,
    layout: str | None = None,
    scale: str | None = None,
    progress: bool = True,
) -> tuple[dict[str, Any], Path | None]:
    """What ``ganstab eval`` computes: the metrics of a run's generator, of a checkpoint file's, or of images made
    elsewhere (``.npy``/``.npz`` or a folder of PNGs), by one code path (:class:`ImageEvaluator`).

    Args:
        source: a run directory, a checkpoint file (``.pt`` inside a run), an array file or a PNG folder.
        checkpoint: for a run, the iteration (default: the newest checkpoint).
        metrics: registered names, comma-separated (default: the run's ``eval_metrics``, else ``"is,fid"``).
        ref: reference split, ``"train"`` or ``"test"`` (default: the run's ``eval_ref``, else ``"train"``).
        n: images to generate (runs; default 50,000) or to take from the start of the given images (default: all).
        seed: seed of the latent codes (runs).
        weights: Inception weights file; default: the run's ``inception_weights``, else torch-fidelity's cache.
        data_dir: folder of the reference data set; default: the run's ``data_dir`` (required for images).
        dataset: the reference data set of given images (``cifar10``).
        download: fetch the data set into ``data_dir`` when missing.
        device: where Inception (and the generator) run; ``auto`` = cuda when available.
        batch_size: images per network pass.
        is_splits: IS splits (default: the run's ``is_splits``, else 10).
        key, layout, scale: how to read an array (:func:`gan_train.metrics.samples.read_images`).

    Returns:
        ``(record, default output file)``: the record holds ``source``, ``kind`` (``run``/``checkpoint``/
        ``images``), for generators ``iteration`` and ``seed``, and the metrics' record (``n_samples``,
        ``ref_split``, ``ref_n`` and the values).
    """
    import dataclasses
    from types import SimpleNamespace

    from gan_train.config import CONFIG_FILE, read_run_config, resolve_device
    from gan_train.metrics.registry import needs_reference, parse_metrics

    device = resolve_device(device or "cpu")  # checked (a one-line error) where the network is built
    path = Path(source)
    if not path.exists():
        raise UserError(f"{path} does not exist (expected a run directory, a checkpoint, an .npy/.npz or a PNG folder)")
    is_run = path.is_dir() and (path / CONFIG_FILE).is_file()
    if is_run or path.suffix.lower() == ".pt":
        from gan_train import checkpoint as ckpt
        from gan_train.sampling import generator_from_checkpoint, load_generator

        if is_run:
            kind, run_dir = "run", path
            generator, config, iteration = load_generator(run_dir, checkpoint)
        else:
            if checkpoint is not None:
                raise UserError("--checkpoint ITER picks a checkpoint of a run directory; here the file is given")
            kind, run_dir = "checkpoint", _run_of(path)
            config = read_run_config(run_dir, "evaluate")
            iteration = int(ckpt.read_checkpoint(path)["iteration"])
            generator = generator_from_checkpoint(path, config, run_dir)
        names = parse_metrics(_config_metrics(config) if metrics is None else metrics)
        ref = check_split(_config_split(config) if ref is None else ref)
        changes = {"data_dir": data_dir} if data_dir else {}
        if is_splits is not None:
            changes["is_splits"] = is_splits
        config = dataclasses.replace(config, **changes)
        evaluator = ImageEvaluator(
            config, weights if weights is not None else config.inception_weights, names, device, progress,
            ref_split=ref, download=download,
        )  # fmt: skip
        count = 50_000 if n is None else n
        generator = generator.to(next(evaluator.extractor.parameters()).device)
        scores = evaluator(generator, count, seed=seed, batch_size=batch_size)
        suffix = "" if ref == "train" else f"_{ref}"
        record = {"source": str(path), "kind": kind, "iteration": iteration, "seed": seed, **scores}
        return record, run_dir / f"eval_{iteration:08d}{suffix}.json"
    if checkpoint is not None:
        raise UserError("--checkpoint is for run directories")
    names = parse_metrics("is,fid" if metrics is None else metrics)
    ref = check_split("train" if ref is None else ref)
    from gan_train.metrics.samples import read_images

    images = read_images(path, key=key, layout=layout, scale=scale)
    if n is not None:
        if n > len(images):
            raise UserError(f"--n {n} asks for more images than {path} holds ({len(images)})")
        images = images[:n]
    if needs_reference(names) and not data_dir:
        comparing = ", ".join(name for name in names if needs_reference([name]))
        raise UserError(f"{comparing}: the reference images need --data-dir DIR (the {dataset} folder)")
    config = SimpleNamespace(dataset=dataset, data_dir=data_dir or "", is_splits=10 if is_splits is None else is_splits)
    evaluator = ImageEvaluator(config, weights, names, device, progress, ref_split=ref, download=download)
    return {"source": str(path), "kind": "images", **evaluator.score_images(images, batch_size)}, None
