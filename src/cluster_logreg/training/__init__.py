"""Running a job: build it, fit it (continuing after a stop), its callbacks, checkpoints and pictures,
its results; evaluate and predict with a trained model."""
