"""Stand-in for smacv2's StarCraftCapabilityEnvWrapper (same constructor and methods)."""
import numpy as np
from _coop import Coop


class StarCraftCapabilityEnvWrapper:
    def __init__(self, capability_config, map_name, seed=None, **kwargs):
        assert map_name.startswith("10gen_"), map_name
        assert capability_config["team_gen"]["dist_type"] == "weighted_teams"
        assert capability_config["start_positions"]["dist_type"] == "surrounded_and_reflect"
        self.n = capability_config["n_units"]
        self.n_enemies = capability_config["n_enemies"]
        self.n_actions = 6 + self.n_enemies
        self.core = Coop(self.n, self.n_actions - 1, seed)
        self.limit, self.t = 8, 0

    def get_env_info(self):
        return {"state_shape": self.n * self.n_actions, "obs_shape": self.n_actions,
                "n_actions": self.n_actions, "n_agents": self.n, "episode_limit": self.limit}

    def reset(self):
        self.core.reset()
        self.t = 0
        return self.get_obs(), self.get_state()

    def step(self, actions):
        r, all_hit = self.core.reward([a - 1 for a in actions])  # action 0 is no-op (dead only)
        self.t += 1
        terminated = all_hit or self.t >= self.limit
        return r, terminated, ({"battle_won": all_hit} if terminated else {})

    def get_obs(self):
        return [self.core.obs(i) for i in range(self.n)]

    def get_state(self):
        return np.concatenate(self.get_obs())

    def get_avail_actions(self):
        return [[0] + [1] * (self.n_actions - 1) for _ in range(self.n)]

    def close(self):
        pass
