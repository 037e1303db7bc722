"""Spectra of the real game along training: the analysis engine reads the trainer's run directories.

``checkpoints`` (a run's config and checkpoints, rebuilt as modules by the trainer's own builders), ``field`` (the
:class:`~stability.autodiff.field.TorchField` of a checkpoint from the run's own measure, form, ρ, link and data
law, on a fixed seeded sample set), ``spectra`` (top-k eigenvalues per checkpoint, ARPACK warm-started from the
previous checkpoint's Ritz vectors, ‖v‖, GD spectral radii, the Theorem 1 check near stationarity) and
``figures``. Imported lazily.
"""

from stability.util.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(
        ["RunCheckpoint", "run_checkpoints", "select_checkpoints", "load_checkpoint"], "gan_train.spectra.checkpoints"
    ),
    **dict.fromkeys(["SampleSet", "sample_set", "run_field", "run_notes"], "gan_train.spectra.field"),
    **dict.fromkeys(["CheckpointSpectrum", "RunSpectra", "spectra_along_training"], "gan_train.spectra.spectra"),
    "spectrum_figures": "gan_train.spectra.figures",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
