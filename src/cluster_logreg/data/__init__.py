"""The data sources as LightningDataModules: the tutorial's clusters, a CSV table of your own."""
