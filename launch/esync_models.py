#!/usr/bin/env python3
"""esync's built-in models written in PyTorch, with the parameter and buffer names of esync's own
(src/train/models/*.cpp), so the state_dict a job writes (LOGDIR/model.pt, or
`esync export CHECKPOINT -o model.pt`) loads into them with torch.load (load() below), no
esync needed:

    import esync_models
    net = esync_models.load("logs/run-esync-.../model.pt", "lenet5")

A TorchScript model trained with --model FILE comes back as the module: torch.jit.load(path).

As a command, it evaluates an exported model on Fashion-MNIST's test set, normalised as esync
normalises it (the training set's mean and std of x/255):

    python3 launch/esync_models.py LOGDIR/model.pt --model lenet5      # prints one JSON line
"""
import argparse
import gzip
import importlib
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F


def _flat_features(body, shape):
    with torch.no_grad():
        return body(torch.zeros(1, *shape)).numel()


class LinReg(nn.Module):  # src/train/models/linreg.cpp: y = <x, w>, no bias
    def __init__(self, d):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        return x.flatten(1) @ self.w


class Mlp(nn.Module):  # mlp.cpp: flatten -> 256 -> ReLU -> 128 -> ReLU -> classes
    def __init__(self, d, classes):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(d, 256), nn.Linear(256, 128), nn.Linear(128, classes)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x.flatten(1))))))


class LeNet5(nn.Module):  # lenet5.cpp: ReLU and max pooling
    def __init__(self, shape, classes):
        super().__init__()
        self.conv1 = nn.Conv2d(shape[0], 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(_flat_features(self.features, shape), 120)
        self.fc2, self.fc3 = nn.Linear(120, 84), nn.Linear(84, classes)

    def features(self, x):
        return F.max_pool2d(F.relu(self.conv2(F.max_pool2d(F.relu(self.conv1(x)), 2))), 2)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(self.features(x).flatten(1))))))


def _conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Cnn(nn.Module):  # cnn.cpp: [conv3x3, BN, ReLU] x2, maxpool, x2 again, fc 128, fc classes
    def __init__(self, shape, classes):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn_relu(shape[0], 32), *_conv_bn_relu(32, 32), nn.MaxPool2d(2),
                                  *_conv_bn_relu(32, 64), *_conv_bn_relu(64, 64), nn.MaxPool2d(2))
        self.fc1 = nn.Linear(_flat_features(self.body, shape), 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(self.body(x).flatten(1))))


class BasicBlock(nn.Module):  # resnet18.cpp
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet18(nn.Module):  # resnet18.cpp: the CIFAR variant (3x3 stem, no max pooling)
    def __init__(self, cin, classes):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(cin, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64)
        blocks, c = [], 64
        for s, width in enumerate((64, 128, 256, 512)):
            for b in range(2):
                blocks.append(BasicBlock(c, width, 2 if s > 0 and b == 0 else 1))
                c = width
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def build(name, sample_shape=(1, 28, 28), classes=10):
    """esync's --model NAME for samples of sample_shape and `classes` classes (0: regression)."""
    d = 1
    for s in sample_shape:
        d *= s
    makers = {"linreg": lambda: LinReg(d), "mlp": lambda: Mlp(d, classes),
              "lenet5": lambda: LeNet5(sample_shape, classes), "cnn": lambda: Cnn(sample_shape, classes),
              "resnet18": lambda: ResNet18(sample_shape[0], classes)}
    if name not in makers:
        raise ValueError(f"unknown model '{name}' (expected one of {', '.join(makers)})")
    return makers[name]()


def load(path, name, sample_shape=(1, 28, 28), classes=10):
    """The model esync wrote to `path`, ready for inference (eval mode)."""
    net = build(name, sample_shape, classes)
    # PyTorch >= 2.6 loads weights_only by default, which refuses the dict type tags that
    # LibTorch's pickle_save writes unless their (harmless) restorer is allowed.
    if hasattr(torch.serialization, "add_safe_globals"):
        torch.serialization.add_safe_globals([importlib.import_module("torch.jit._pickle").restore_type_tag])
    net.load_state_dict(torch.load(path, map_location="cpu"))
    return net.eval()


def fashion_mnist_test(data="/usr/share/datasets/fashion-mnist"):
    """(x, y): the test set normalised as esync normalises it (src/train/data/registry.cpp)."""
    def idx(name):
        with gzip.open(os.path.join(data, name)) as f:
            raw = f.read()
        dims = raw[3]
        shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
        return torch.frombuffer(bytearray(raw[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)

    train = idx("train-images-idx3-ubyte.gz").double() / 255
    mean, std = train.mean(), train.std(unbiased=False)
    x = ((idx("t10k-images-idx3-ubyte.gz").float() / 255 - float(mean)) / float(std)).unsqueeze(1)
    return x, idx("t10k-labels-idx1-ubyte.gz").long()


def main():
    ap = argparse.ArgumentParser(description="Test accuracy of a model esync wrote, measured by PyTorch.")
    ap.add_argument("model_file")
    ap.add_argument("--model", default="lenet5", help="esync's --model (a built-in name)")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    net = load(a.model_file, a.model)
    x, y = fashion_mnist_test(a.data)
    with torch.no_grad():
        logits = torch.cat([net(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    acc = (logits.argmax(1) == y).double().mean().item()
    loss = F.cross_entropy(logits, y).item()
    print(json.dumps({"model_file": a.model_file, "model": a.model, "torch": torch.__version__,
                      "test_samples": len(y), "acc": acc, "loss": loss}))


if __name__ == "__main__":
    main()
