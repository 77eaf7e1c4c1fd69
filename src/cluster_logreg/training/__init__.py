"""Running a job: build it, fit it (continuing after a stop), its callbacks, checkpoints and pictures,
its results; evaluate and predict with a trained model."""

import lightning  # noqa: F401, E402  # it adds a console handler of its own on import: removed here

from cluster_logreg.core.quiet import quiet_lightning  # noqa: E402

quiet_lightning()  # before any Trainer of this package prints: each Lightning line once, its noise not at all
