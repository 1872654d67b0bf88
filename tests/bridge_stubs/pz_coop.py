"""PettingZoo-style ParallelEnv factories for the bridge tests, including misbehaving ones."""
import os
import sys
import time
import numpy as np
from _coop import Coop, Discrete


class CoopParallel:
    def __init__(self, n=3, A=4, fail=None, fail_at=3):
        self.possible_agents = ["p%d" % i for i in range(n)]
        self.agents = list(self.possible_agents)
        self.core = Coop(n, A)
        self.A, self.t, self.fail, self.fail_at, self.steps = A, 0, fail, fail_at, 0

    def action_space(self, agent):
        return Discrete(self.A)

    def _obs(self):
        return {a: self.core.obs(i) for i, a in enumerate(self.possible_agents)}

    def _infos(self):  # the last action is masked out for every agent
        return {a: {"action_mask": np.array([1] * (self.A - 1) + [0], dtype=np.int8)} for a in self.possible_agents}

    def reset(self, seed=None):
        self.core.reset(seed)
        self.core.targets %= self.A - 1
        self.t = 0
        return self._obs(), self._infos()

    def step(self, actions):
        self.steps += 1
        if self.fail and self.steps >= self.fail_at:
            if self.fail == "crash":
                sys.stderr.write("pz_coop: simulated segfault in the simulator\n")
                sys.stderr.flush()
                os._exit(7)
            if self.fail == "hang":
                time.sleep(3600)
            # a corrupted stream: bytes written straight to the server's protocol channel
            if self.fail == "garbage":
                os.write(sys.modules["__main__"]._out_fd, b"\x10\x00\x00\x00" + b"\xff" * 16)
                time.sleep(3600)
            if self.fail == "oversized":
                os.write(sys.modules["__main__"]._out_fd, b"\xff\xff\xff\x7f")
                time.sleep(3600)
            if self.fail == "chatty":  # prints on stdout, from Python and below it: harmless
                print("pz_coop: step %d" % self.steps)
                sys.stdout.flush()
                os.write(1, b"pz_coop: raw write to fd 1\n")
            if self.fail == "raise":
                raise RuntimeError("simulator exploded")
        r, all_hit = self.core.reward([actions[a] for a in self.possible_agents])
        self.t += 1
        done = all_hit or self.t >= 6
        rew = {a: r for a in self.possible_agents}
        term = {a: done for a in self.possible_agents}
        infos = self._infos()
        if done:
            for a in self.possible_agents:
                infos[a]["won"] = all_hit
        return self._obs(), rew, term, {a: False for a in self.possible_agents}, infos

    def state(self):
        return np.concatenate([self.core.obs(i) for i in range(len(self.possible_agents))])

    def close(self):
        pass


def make_env(n=3, A=4, fail=None, fail_at=3):
    return CoopParallel(n=n, A=A, fail=fail, fail_at=fail_at)
