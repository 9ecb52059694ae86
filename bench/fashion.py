"""Fashion-MNIST for the PyTorch references, read and fed the way esync feeds itself, so the
references train on the same data: Debian's dataset-fashion-mnist files (gzipped IDX), pixels
normalised with the training set's mean and std of x/255 (src/train/data/registry.cpp), an iid
partition into disjoint shuffled shards of near-equal size (src/train/data/partition.cpp), and
full batches from a fresh permutation of the shard every epoch (src/train/sampler.hpp)."""
import gzip, os

import numpy as np
import torch

DATA = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load():
    """((x, y), (test_x, test_y)): x float32 [N, 1, 28, 28] normalised, y int64."""
    x, tx = idx("train-images-idx3-ubyte.gz"), idx("t10k-images-idx3-ubyte.gz")
    # esync's mean and (population) std of x/255 over all training pixels, in double; exact here
    # from the histogram of the 256 byte values.
    v, n = np.arange(256, dtype=np.float64) / 255, np.bincount(x.ravel(), minlength=256).astype(np.float64)
    mean = (v * n).sum() / n.sum()
    std = np.sqrt(max((v * v * n).sum() / n.sum() - mean * mean, 1e-12))

    def norm(a):  # in place: every rank of a reference holds its own copy
        a = a.astype(np.float32)
        a /= 255
        a -= np.float32(mean)
        a /= np.float32(std)
        return torch.from_numpy(a[:, None])

    def labels(name):
        return torch.from_numpy(idx(name).astype(np.int64))

    return (norm(x), labels("train-labels-idx1-ubyte.gz")), (norm(tx), labels("t10k-labels-idx1-ubyte.gz"))


def iid_shard(n, world, rank, seed=1):
    """Rank's part of a shuffled split of range(n) into `world` disjoint parts (sizes differ by <= 1)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g).tensor_split(world)[rank]


class ShardBatches:
    """Indices of full batches from a shard: a fresh permutation every epoch, seeded by (seed,
    epoch); a batch reaching the end of one permutation is completed from the next, as esync's
    sampler does, so every step averages the same number of samples."""

    def __init__(self, shard, batch, seed):
        self.shard, self.batch, self.seed = shard, min(batch, len(shard)), seed
        self.g, self.epoch, self.perm, self.pos = torch.Generator(), 0, None, 0

    def next(self):
        parts, have = [], 0
        while have < self.batch:
            if self.perm is None or self.pos >= len(self.shard):
                self.g.manual_seed(self.seed * 1000003 + self.epoch)
                self.perm = self.shard[torch.randperm(len(self.shard), generator=self.g)]
                self.pos, self.epoch = 0, self.epoch + 1
            take = self.perm[self.pos:self.pos + self.batch - have]
            parts.append(take)
            self.pos, have = self.pos + len(take), have + len(take)
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def rank_batches(world, rank, batch=64, seed=1):
    """(train, test, sampler) for one rank: the loaded data and a ShardBatches over its iid shard,
    seeded per rank as esync's worker seeds its sampler (seed + 7919 (rank + 1))."""
    train, test = load()
    return train, test, ShardBatches(iid_shard(len(train[1]), world, rank, seed), batch, seed + 7919 * (rank + 1))
