"""Stand-in for gymnasium_robotics exposing mamujoco_v1.parallel_env (continuous actions)."""
import types
import numpy as np
from _coop import Box


class _MaMuJoCo:
    def __init__(self, scenario, agent_conf, agent_obsk=1):
        n, k = (int(x) for x in agent_conf.split("x"))
        self.possible_agents = ["agent_%d" % i for i in range(n)]
        self.agents = list(self.possible_agents)
        self.k = k
        self.rng = np.random.default_rng(0)
        self.targets = np.zeros((n, k), dtype=np.float32)

    def action_space(self, agent):
        return Box(-1.0, 1.0, (self.k,))

    def _obs(self):
        return {a: self.targets[i].copy() for i, a in enumerate(self.possible_agents)}

    def reset(self, seed=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.targets = self.rng.uniform(-0.5, 0.5, self.targets.shape).astype(np.float32)
        return self._obs(), {a: {} for a in self.possible_agents}

    def step(self, actions):
        err = sum(float(np.sum((np.asarray(actions[a]) - self.targets[i]) ** 2))
                  for i, a in enumerate(self.possible_agents))
        r = {a: -err for a in self.possible_agents}
        f = {a: False for a in self.possible_agents}
        return self._obs(), r, f, dict(f), {a: {} for a in self.possible_agents}

    def state(self):
        return self.targets.ravel()

    def close(self):
        pass


mamujoco_v1 = types.SimpleNamespace(parallel_env=_MaMuJoCo)
