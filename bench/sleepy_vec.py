"""The distributed benchmark's slow batched env: the trivial env of trivial_vec.py, each step of
the whole batch sleeping `delay` seconds first (a stand-in for StarCraft II or the GRF engine,
whose steps cost milliseconds of a process's time)."""
import time

from trivial_vec import TrivialVec


class SleepyVec(TrivialVec):
    def __init__(self, num_envs, seed=0, delay=0.005, **kwargs):
        super().__init__(num_envs, seed, **kwargs)
        self.delay = delay

    def step(self, actions):
        time.sleep(self.delay)
        return super().step(actions)


def make(num_envs, seed=0, **kwargs):
    return SleepyVec(num_envs, seed, **kwargs)
