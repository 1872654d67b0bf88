"""Stand-in core for the bridge tests: each agent sees its own target action (one-hot) and the
team is rewarded for the fraction of agents that pick it. Deterministic given the seed."""
import numpy as np


class Box:
    def __init__(self, low, high, shape):
        self.low = np.full(shape, low, dtype=np.float32)
        self.high = np.full(shape, high, dtype=np.float32)
        self.shape = shape


class Discrete:
    def __init__(self, n):
        self.n = n


class Coop:
    def __init__(self, n, A, seed=None):
        self.n, self.A = n, A
        self.rng = np.random.default_rng(seed)
        self.targets = np.zeros(n, dtype=np.int64)

    def reset(self, seed=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.targets = self.rng.integers(0, self.A, self.n)

    def obs(self, i):
        o = np.zeros(self.A + 1, dtype=np.float32)
        o[self.targets[i]] = 1
        o[-1] = i
        return o

    def reward(self, actions):
        hits = [int(a) == int(t) for a, t in zip(actions, self.targets)]
        return float(np.mean(hits)), all(hits)
