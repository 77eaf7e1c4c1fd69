"""`python bench/breast_cancer.py [overrides]`: `experiment=breast_cancer` next to scikit-learn's
LogisticRegression on the same split (the same standardisation, fitted on the training split).

scikit-learn is a dev/benchmark dependency (`pip install -e '.[dev]'`), never imported by a run.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

REPO = Path(__file__).resolve().parents[1]


def main(overrides: list[str]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from cluster_logreg.config.preflight import TRAIN_CHECKS, preflight
    from cluster_logreg.core.run_dir import RunDir
    from cluster_logreg.training.fit import train

    with tempfile.TemporaryDirectory() as run_dir, initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", [*overrides, "experiment=breast_cancer", f"run_dir={run_dir}"])
        preflight(cfg, TRAIN_CHECKS)
        train(cfg)
        ours = json.loads(RunDir(Path(run_dir)).metrics.read_text())
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    (x_train, y_train), (x_test, y_test) = datamodule.splits["train"], datamodule.splits["test"]
    scaler = StandardScaler().fit(x_train.numpy())
    reference = LogisticRegression(max_iter=5000).fit(scaler.transform(x_train.numpy()), y_train.numpy())
    theirs = reference.score(scaler.transform(x_test.numpy()), y_test.numpy())
    print(f"test split: {len(y_test)} patients ({int(y_test.sum())} malignant), seed {cfg.seed}")
    print("| model | test accuracy |\n|---|---|")
    print(f"| this project ({cfg.trainer.max_epochs} epochs) | {ours['acc/test']:.4f} |")
    print(f"| scikit-learn LogisticRegression (L2, C=1) | {theirs:.4f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
