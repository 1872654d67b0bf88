"""Stand-in for gfootball.env.create_environment (old gym API, M controlled players)."""
import types
import numpy as np
from _coop import Coop


def create_environment(env_name="", representation="extracted", rewards="scoring",
                       number_of_left_players_agent_controls=1, other_config_options=None, **kwargs):
    assert representation == "simple115v2" and "scoring" in rewards
    return _Football(number_of_left_players_agent_controls, (other_config_options or {}).get("game_engine_random_seed"))


class _Football:
    def __init__(self, m, seed):
        self.m = m
        self.core = Coop(m, 19, seed)
        self.action_space = types.SimpleNamespace(nvec=[19] * m)
        self.t = 0

    def _obs(self):
        o = np.zeros((self.m, 115), dtype=np.float32)
        for i in range(self.m):
            o[i, : 20] = self.core.obs(i)
        return o

    def reset(self):
        self.core.reset()
        self.t = 0
        return self._obs()

    def step(self, actions):
        r, all_hit = self.core.reward(actions)
        self.t += 1
        done = all_hit or self.t >= 10
        return self._obs(), np.full(self.m, r, dtype=np.float32), done, {"score_reward": 1 if all_hit else 0}

    def close(self):
        pass
