"""The usual Lightning way, the peer to beat: a DataLoader over a TensorDataset, `self.log` on every
step, validation and a checkpoint every epoch, the default progress bar and logger."""

from __future__ import annotations

import torch
from lightning import LightningModule
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import BinaryAccuracy


class UsualClassifier(LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 5), nn.Linear(5, 1))
        self.loss_fn = nn.BCEWithLogitsLoss()
        self.train_acc, self.val_acc = BinaryAccuracy(), BinaryAccuracy()

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x).squeeze(-1)
        loss = self.loss_fn(logits, y)
        self.train_acc(torch.sigmoid(logits), y.long())
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self.net(x).squeeze(-1)
        self.val_acc(torch.sigmoid(logits), y.long())
        self.log("val/loss", self.loss_fn(logits, y), prog_bar=True)
        self.log("val/acc", self.val_acc)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)


def loaders(train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor]):
    return (
        DataLoader(TensorDataset(*train), batch_size=len(train[0]), shuffle=True),
        DataLoader(TensorDataset(*val), batch_size=len(val[0])),
    )
