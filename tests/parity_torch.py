#!/usr/bin/env python3
"""parity_torch.py: the PyTorch side of tests/test_parity.c.

Rebuilds the network a cltrain checkpoint describes (its __metadata__ holds the flat config) in
PyTorch with the same module names, loads the checkpoint's initial weights, trains it on the same
batches with the same optimizer, and compares the per-step losses and the final weights with what
cltrain produced. Prints one JSON object: {"loss_rel": ..., "weight_rel": ..., "losses": [...]}.
"""
import argparse
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        dtype = {"F32": np.float32, "I64": np.int64}[t["dtype"]]
        tensors[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=dtype).copy().reshape(t["shape"]))
    return meta, tensors


def block_filters(strategy, n):
    if strategy == "double":
        return [n << i for i in range(5)]
    if strategy == "half":
        return [max(n >> i, min(n, 8)) for i in range(5)]
    if strategy == "pyramid":
        return [n * m for m in (1, 2, 4, 2, 1)]
    return [n] * 5


ACTIVATIONS = {
    "relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "mish": nn.Mish, "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid, "leaky_relu": lambda: nn.LeakyReLU(0.01), "elu": nn.ELU,
}


class Block(nn.Module):
    def __init__(self, cin, cout, k, bn, act):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2)
        if bn:
            self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)
        self.act = ACTIVATIONS[act]()
        self.has_bn = bn

    def forward(self, x):
        x = self.conv(x)
        if self.has_bn:
            x = self.bn(x)
        return F.max_pool2d(self.act(x), 2)


class Net(nn.Module):
    def __init__(self, meta):
        super().__init__()
        cin, size = int(meta["in_channels"]), int(meta["image_size"])
        filters = block_filters(meta["filter_strategy"], int(meta["num_filters"]))
        k, bn = int(meta["filter_size"]), meta["batch_norm"] == "true"
        blocks = []
        for f in filters:
            blocks.append(Block(cin, f, k, bn, meta["activation"]))
            cin, size = f, size // 2
        self.blocks = nn.ModuleList(blocks)
        dense = int(meta["dense_neurons"])
        self.fc = nn.Linear(cin * size * size, dense)
        self.act = ACTIVATIONS[meta["activation"]]()
        self.out = nn.Linear(dense, int(meta["num_classes"]))

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.out(self.act(self.fc(torch.flatten(x, 1))))


def optimizer(meta, params):
    lr, wd = float(meta["learning_rate"]), float(meta["weight_decay"])
    kind = meta["optimizer"]
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if kind == "nadam":
        return torch.optim.NAdam(params, lr=lr, weight_decay=wd)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd, momentum=float(meta["momentum"]))
    return torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=float(meta["momentum"]),
                           nesterov=meta["nesterov"] == "true")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True)
    ap.add_argument("--final", required=True)
    ap.add_argument("--batches", required=True, help="float32 images, steps x batch x C x H x W")
    ap.add_argument("--labels", required=True, help="int32 labels, steps x batch")
    ap.add_argument("--losses", required=True, help="cltrain's per-step losses, float32")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    a = ap.parse_args()
    torch.set_num_threads(1)
    meta, init = read_safetensors(a.init)
    net = Net(meta)
    net.load_state_dict(init, strict=True)
    net.train()
    opt = optimizer(meta, net.parameters())
    c, s = int(meta["in_channels"]), int(meta["image_size"])
    xs = torch.from_numpy(np.fromfile(a.batches, dtype=np.float32).reshape(a.steps, a.batch, c, s, s))
    ys = torch.from_numpy(np.fromfile(a.labels, dtype=np.int32).astype(np.int64).reshape(a.steps, a.batch))
    theirs = np.fromfile(a.losses, dtype=np.float32)
    losses = []
    for step in range(a.steps):
        opt.zero_grad()
        loss = F.cross_entropy(net(xs[step]), ys[step])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    loss_rel = max(abs(float(t) - l) / abs(l) for t, l in zip(theirs, losses))
    _, final = read_safetensors(a.final)
    mine = net.state_dict()
    weight_rel, worst = 0.0, ""
    for name, t in final.items():
        if t.dtype != torch.float32:
            if int(t) != int(mine[name]):
                print(json.dumps({"error": f"{name}: {int(t)} != {int(mine[name])}"}))
                return 1
            continue
        ref = mine[name].double()
        scale = max(ref.abs().max().item(), 1e-12)
        rel = ((t.double() - ref).abs().max().item()) / scale
        if rel > weight_rel:
            weight_rel, worst = rel, name
    print(json.dumps({"loss_rel": loss_rel, "weight_rel": weight_rel, "worst": worst, "losses": losses}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
