"""The tutorial's classifier as a LightningModule."""
