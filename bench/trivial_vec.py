"""The bridge benchmark's trivial batched env: 3 agents, 4 actions, constant observations, zero
reward, episodes of 25 steps for all envs at once. It does next to no work, so the bridge rows
measure the protocol and the pipes, which the raw round trip is the floor of."""
import numpy as np


class TrivialVec:
    def __init__(self, num_envs, seed=0, n=3, A=4, length=25):
        self.E, self.length, self.t = num_envs, length, 0
        self.spec = {"numAgents": n, "obsDim": A + 1, "stateDim": n * (A + 1),
                     "action": {"kind": "discrete", "n": A}, "episodeLimit": length}
        obs = np.full((num_envs, n, A + 1), 0.5, dtype=np.float32)
        self.out = {"obs": obs, "state": obs.reshape(num_envs, -1),
                    "avail": np.ones((num_envs, n, A), dtype=np.uint8),
                    "reward": np.zeros(num_envs, dtype=np.float32),
                    "done": np.zeros(num_envs, dtype=np.uint8)}
        self.trunc = [np.zeros(num_envs, dtype=np.uint8), np.ones(num_envs, dtype=np.uint8)]
        self.none = {"returns": [], "lengths": [], "wins": []}
        self.ends = {"returns": [0.0] * num_envs, "lengths": [length] * num_envs, "wins": [0] * num_envs}

    def reset(self, seed=None):
        self.t = 0
        return self.out

    def step(self, actions):
        self.t += 1
        end = self.t == self.length
        if end:
            self.t = 0
        return dict(self.out, truncated=self.trunc[end], episodes=self.ends if end else self.none)


def make(num_envs, seed=0, **kwargs):
    return TrivialVec(num_envs, seed, **kwargs)
