#!/usr/bin/env python3
"""torch_train.py: PyTorch's side of perf/compare: the same CNN as bench_train (five blocks of
conv 3x3 same -> batch norm -> relu -> max pool 2x2, dense, 10 outputs), the same batch and input
size, Adam, on synthetic batches; prints the same JSON fields as bench_train."""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, channels, size, filters, dense, bn):
        super().__init__()
        layers, c = [], channels
        for _ in range(5):
            layers += [nn.Conv2d(c, filters, 3, padding=1)]
            if bn:
                layers += [nn.BatchNorm2d(filters)]
            layers += [nn.ReLU(), nn.MaxPool2d(2)]
            c, size = filters, size // 2
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c * size * size, dense)
        self.out = nn.Linear(dense, 10)

    def forward(self, x):
        return self.out(F.relu(self.fc(torch.flatten(self.features(x), 1))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--filters", type=int, default=32)
    ap.add_argument("--dense", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-bn", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    net = Net(a.channels, a.size, a.filters, a.dense, not a.no_bn).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(a.batch, a.channels, a.size, a.size, device=dev) * 2 - 1
    y = torch.arange(a.batch, device=dev) % 10
    times = []
    for _ in range(max(a.steps, 4)):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        loss.item()  # waits for the device, as cltrain's step reads its loss
        times.append(time.perf_counter() - t0)
    med = statistics.median(times[2:])
    print(json.dumps({"device": a.device, "channels": a.channels, "size": a.size, "batch": a.batch,
                      "threads": a.threads, "images_per_sec": a.batch / med, "step_ms": 1e3 * med,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


if __name__ == "__main__":
    main()
