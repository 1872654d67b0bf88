"""A natively batched Python env for the bridge tests and benchmark: E copies of the coop task
(each agent must name its own target), stepped with numpy, auto-resetting itself."""
import numpy as np


class VecCoop:
    def __init__(self, num_envs, seed=0, n=3, A=4, length=6, wins=True, strided=False):
        self.E, self.n, self.A, self.length, self.wins = num_envs, n, A, length, wins
        self.rng = np.random.default_rng(seed)
        self.spec = {"numAgents": n, "obsDim": A + 1, "stateDim": n * (A + 1),
                     "action": {"kind": "discrete", "n": A}, "episodeLimit": length}
        self.targets = np.zeros((num_envs, n), dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.ret = np.zeros(num_envs)
        self.avail = np.ones((num_envs, n, A), dtype=np.uint8)
        if strided:  # a non-contiguous view (every other column), which the server must still send
            self.avail = np.ones((num_envs, n, 2 * A), dtype=np.uint8)[:, :, ::2]
            self.avail[:, :, -1] = 0
        self.ids = np.broadcast_to(np.arange(n, dtype=np.float32), (num_envs, n))

    def _obs(self):
        obs = np.zeros((self.E, self.n, self.A + 1), dtype=np.float32)
        np.put_along_axis(obs, self.targets[:, :, None], 1.0, axis=2)
        obs[:, :, -1] = self.ids
        return {"obs": obs, "state": obs.reshape(self.E, -1), "avail": self.avail}

    def reset(self, seed=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.targets = self.rng.integers(0, self.A, (self.E, self.n))
        self.t[:] = 0
        self.ret[:] = 0
        return self._obs()

    def step(self, actions):
        hits = actions == self.targets
        reward = hits.mean(axis=1).astype(np.float32)
        self.t += 1
        self.ret += reward
        done = hits.all(axis=1)
        trunc = ~done & (self.t >= self.length)
        ended = np.flatnonzero(done | trunc)
        episodes = {"returns": self.ret[ended].tolist(), "lengths": self.t[ended].tolist(),
                    "wins": done[ended].astype(int).tolist() if self.wins else []}
        if ended.size:
            self.targets[ended] = self.rng.integers(0, self.A, (ended.size, self.n))
            self.t[ended] = 0
            self.ret[ended] = 0
        out = self._obs()
        out.update(reward=reward, done=done.astype(np.uint8), truncated=trunc.astype(np.uint8), episodes=episodes)
        return out


def make(num_envs, seed=0, **kwargs):
    return VecCoop(num_envs, seed, **kwargs)
