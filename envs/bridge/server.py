"""Baton bridge server: hosts E copies of a Python multi-agent env and speaks Baton's framed
binary protocol (envs/bridge/PROTOCOL.md) on stdin/stdout. Standard library + numpy only.

Adapters follow the real packages' public APIs: smacv2's StarCraftCapabilityEnvWrapper,
gymnasium_robotics.mamujoco_v1.parallel_env, gfootball.env.create_environment, and any
PettingZoo ParallelEnv given as "module:factory". Auto-reset and episode bookkeeping happen here,
so the Deno side receives one batch per step.
"""
import importlib
import json
import os
import struct
import sys
import traceback

PROTOCOL_VERSION = 2
# the protocol gets a private copy of stdout; fd 1 and sys.stdout go to stderr, so an env (or a
# C library under it) that prints cannot corrupt the frame stream
_out_fd = os.dup(sys.stdout.fileno())
os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
sys.stdout = sys.stderr
_writev = os.writev
_in = sys.stdin.buffer


_metas_cache = {}
_json_encode = json.JSONEncoder(separators=(",", ":")).encode
# every observation reply has this header: the episodes that ended travel as arrays, so the
# header never changes and its encoded prefix is cached; never mutate it
OBS = {"t": "obs"}
_OBS_JSON = _json_encode(OBS)
_no_episodes = {}


def episode_arrays(E, episodes):
    """The episodes that ended in this step as three [E] arrays, packed into the first slots in
    env order: `ep_length` > 0 marks a used slot, `ep_won` is -1 where the env does not say."""
    returns = episodes.get("returns") if episodes else None
    if returns is None or not len(returns):
        if E not in _no_episodes:  # shared and never written to
            _no_episodes[E] = [("ep_return", np.zeros(E, np.float32)), ("ep_length", np.zeros(E, np.int32)),
                               ("ep_won", np.full(E, -1, np.int8))]
        return _no_episodes[E]
    lengths, wins = episodes.get("lengths"), episodes.get("wins")
    lengths, wins = [] if lengths is None else lengths, [] if wins is None else wins
    k = len(returns)
    if k > E or len(lengths) != k or (len(wins) and len(wins) != k):
        raise ValueError("episodes: returns, lengths (and wins, if given) must have one entry per "
                         "ended episode, at most one per env; got %d, %d, %d for %d envs"
                         % (k, len(lengths), len(wins), E))
    ret, length, won = np.zeros(E, np.float32), np.zeros(E, np.int32), np.full(E, -1, np.int8)
    ret[:k], length[:k] = returns, lengths
    if len(wins):
        won[:k] = wins
    if (length[:k] <= 0).any():
        raise ValueError("episodes: every ended episode needs a length >= 1")
    return [("ep_return", ret), ("ep_length", length), ("ep_won", won)]


def send(header, arrays=()):
    """Writes one frame: u32 frame length, u32 header length, header JSON, pad, payload.
    Per (names, dtypes, shapes) of the arrays, their metadata JSON is cached, and with it the
    whole encoded prefix of an observation reply: steps repeat both."""
    arrays = [(name, arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)) for name, arr in arrays]
    key = tuple([(name, arr.dtype.char, arr.shape) for name, arr in arrays])
    cached = _metas_cache.get(key)
    if cached is None:
        metas, pads, offset = [], [], 0
        for name, arr in arrays:
            metas.append({"name": name, "dtype": DTYPES[arr.dtype.str], "shape": list(arr.shape),
                          "offset": offset, "nbytes": arr.nbytes})
            pads.append(b"\0" * ((-arr.nbytes) % 4))
            offset += arr.nbytes + len(pads[-1])
        metas_json = json.dumps(metas, separators=(",", ":"))
        cached = (metas_json, pads, offset, _prefix(_OBS_JSON, metas_json, offset))
        if len(_metas_cache) < 64:
            _metas_cache[key] = cached
    metas_json, pads, payload, obs_prefix = cached
    if header is OBS:
        parts = [obs_prefix]
    else:
        parts = [_prefix(_json_encode(header), metas_json, payload)]
    for (_, arr), pad in zip(arrays, pads):
        parts.append(arr)
        if pad:
            parts.append(pad)
    _write_all(parts, len(parts[0]) + payload)


def _prefix(head, metas_json, payload):
    """The bytes before the payload: lengths, header JSON (`head` plus the arrays), padding."""
    hb = (head[:-1] + ("," if len(head) > 2 else "") + '"arrays":' + metas_json + "}").encode()
    hpad = (-(4 + len(hb))) % 4
    return struct.pack("<II", 4 + len(hb) + hpad + payload, len(hb)) + hb + b"\0" * hpad


def _write_all(parts, total):
    """One gathering write of `total` bytes (no joined copy of the payload); loops over short
    writes."""
    done = _writev(_out_fd, parts)
    if done == total:
        return
    rest = memoryview(b"".join(parts))[done:]  # rare: a signal cut the write short
    while rest:
        rest = rest[_writev(_out_fd, [rest]):]


def send_error(kind, message, module=None):
    send({"t": "error", "kind": kind, "message": message, "module": module,
          "traceback": traceback.format_exc(limit=8)})


try:
    import numpy as np
except Exception as e:  # numpy missing: report it with the stdlib only, then stop
    send_error("import", "%s: %s" % (type(e).__name__, e), "numpy")
    sys.exit(3)

DTYPES = {"<f4": "f32", "<i4": "i32", "|u1": "u8", "|i1": "i8"}
NP = {"f32": np.float32, "i32": np.int32, "u8": np.uint8, "i8": np.int8}


def read_exact(n):
    buf = _in.read(n)  # nearly always whole: the client writes each frame at once
    if len(buf) == n:
        return buf
    if not buf:
        return None
    while len(buf) < n:
        chunk = _in.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


_last_header = (None, None, None)  # header bytes, parsed header, array plan


def recv():
    """Reads one frame. A header identical to the previous one (every step request) is not
    parsed again."""
    global _last_header
    head = read_exact(4)
    if head is None:
        return None, {}
    (length,) = struct.unpack("<I", head)
    body = read_exact(length)
    if body is None:
        return None, {}
    (hlen,) = struct.unpack("<I", body[:4])
    hb = body[4:4 + hlen]
    if hb == _last_header[0]:
        header, plan = _last_header[1], _last_header[2]
    else:
        header = json.loads(hb.decode())
        start = 4 + hlen + ((-(4 + hlen)) % 4)
        plan = [(m["name"], start + m["offset"], start + m["offset"] + m["nbytes"], NP[m["dtype"]],
                 m["shape"]) for m in header.get("arrays", [])]
        _last_header = (hb, header, plan)
    arrays = {}
    for name, a, b, dtype, shape in plan:
        arrays[name] = np.frombuffer(body[a:b], dtype=dtype).reshape(shape)
    return header, arrays


def load_module(name):
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise AdapterImportError(name, "%s: %s" % (type(e).__name__, e))


class AdapterImportError(Exception):
    def __init__(self, module, message):
        super().__init__(message)
        self.module = module


# ----------------------------------------------------------------------------------- adapters
# Each adapter hosts ONE env: spec(), reset(seed), step(actions) -> (reward, terminated, won),
# obs() [n, obs_dim], state() [state_dim], avail() [n, A] or None.

SMACV2_RACES = {
    "protoss": (["stalker", "zealot", "colossus"], [0.45, 0.45, 0.1], []),
    "terran": (["marine", "marauder", "medivac"], [0.45, 0.45, 0.1], ["medivac"]),
    "zerg": (["zergling", "baneling", "hydralisk"], [0.45, 0.1, 0.45], ["baneling"]),
}


class Smacv2Adapter:
    """smacv2's StarCraftCapabilityEnvWrapper with the SMACv2 benchmark configuration."""

    def __init__(self, o, seed):
        wrapper = load_module("smacv2.env.starcraft2.wrapper")
        race, n_units, n_enemies = o["race"], o["nUnits"], o["nEnemies"]
        types, weights, exceptions = SMACV2_RACES[race]
        capability_config = {
            "n_units": n_units,
            "n_enemies": n_enemies,
            "team_gen": {"dist_type": "weighted_teams", "unit_types": types, "weights": weights,
                         "exception_unit_types": exceptions, "observe": True},
            "start_positions": {"dist_type": "surrounded_and_reflect", "p": 0.5,
                                "n_enemies": n_enemies, "map_x": 32, "map_y": 32},
        }
        kwargs = dict(obs_own_pos=True, use_unit_ranges=True, min_attack_range=2, conic_fov=False,
                      seed=seed)
        kwargs.update(o.get("kwargs") or {})
        self.env = wrapper.StarCraftCapabilityEnvWrapper(
            capability_config=capability_config, map_name="10gen_" + race, **kwargs)
        info = self.env.get_env_info()
        self.n, self.A = info["n_agents"], info["n_actions"]
        self._spec = {"numAgents": self.n, "obsDim": info["obs_shape"], "stateDim": info["state_shape"],
                      "action": {"kind": "discrete", "n": self.A}, "episodeLimit": info["episode_limit"]}

    def spec(self):
        return self._spec

    def reset(self, seed):
        self.env.reset()

    def step(self, actions):
        reward, terminated, info = self.env.step([int(a) for a in actions])
        won = info.get("battle_won") if terminated else None
        return float(reward), bool(terminated), (None if won is None else bool(won))

    def obs(self):
        return np.asarray(self.env.get_obs(), dtype=np.float32)

    def state(self):
        return np.asarray(self.env.get_state(), dtype=np.float32)

    def avail(self):
        return np.asarray(self.env.get_avail_actions(), dtype=np.uint8)

    def close(self):
        self.env.close()


class ParallelAdapter:
    """Any PettingZoo ParallelEnv. Observations and actions are padded to the largest agent's
    size; an action mask comes from infos[agent]["action_mask"] or an observation dict's
    "action_mask"; the state is env.state() when available, else the concatenated observations."""

    def __init__(self, env, seed, episode_limit, won_key=None):
        self.env, self.seed, self.won_key = env, seed, won_key
        self.agents = list(env.possible_agents)
        self.n = len(self.agents)
        spaces = [env.action_space(a) for a in self.agents]
        self.discrete = hasattr(spaces[0], "n")
        if self.discrete:
            self.A = max(int(s.n) for s in spaces)
            self.sizes = [int(s.n) for s in spaces]
            action = {"kind": "discrete", "n": self.A}
        else:
            self.A = max(int(np.prod(s.shape)) for s in spaces)
            self.sizes = [int(np.prod(s.shape)) for s in spaces]
            action = {"kind": "box", "dim": self.A, "low": float(np.min([s.low.min() for s in spaces])),
                      "high": float(np.max([s.high.max() for s in spaces]))}
        self._obs, self._infos = env.reset(seed=seed)
        self.obs_dim = max(self._flat(self._obs[a]).size for a in self.agents)
        self.state_dim = self.state().size
        self._spec = {"numAgents": self.n, "obsDim": int(self.obs_dim), "stateDim": int(self.state_dim),
                      "action": action, "episodeLimit": int(episode_limit)}

    @staticmethod
    def _flat(o):
        if isinstance(o, dict):
            o = o.get("observation", o.get("obs"))
        return np.asarray(o, dtype=np.float32).ravel()

    def spec(self):
        return self._spec

    def reset(self, seed):
        self._obs, self._infos = self.env.reset(seed=seed)

    def step(self, actions):
        acts = {}
        for i, a in enumerate(self.agents):
            if self.discrete:
                acts[a] = int(actions[i])
            else:
                acts[a] = np.asarray(actions[i][: self.sizes[i]], dtype=np.float32)
        obs, rewards, terms, truncs, infos = self.env.step(acts)
        self._obs, self._infos = obs, infos
        reward = float(np.mean([rewards.get(a, 0.0) for a in self.agents]))
        done = all(terms.get(a, True) or truncs.get(a, False) for a in self.agents)
        won = None
        if done and self.won_key:
            won = bool(any(infos.get(a, {}).get(self.won_key, False) for a in self.agents))
        return reward, done, won  # a PettingZoo truncation ends the episode like a termination

    def obs(self):
        out = np.zeros((self.n, self.obs_dim), dtype=np.float32)
        for i, a in enumerate(self.agents):
            if a in self._obs:
                f = self._flat(self._obs[a])
                out[i, : f.size] = f
        return out

    def state(self):
        if hasattr(self.env, "state"):
            try:
                return np.asarray(self.env.state(), dtype=np.float32).ravel()
            except NotImplementedError:
                pass
        return self.obs().ravel()

    def avail(self):
        if not self.discrete:
            return None
        out = np.zeros((self.n, self.A), dtype=np.uint8)
        for i, a in enumerate(self.agents):
            mask = self._infos.get(a, {}).get("action_mask") if self._infos else None
            o = self._obs.get(a)
            if mask is None and isinstance(o, dict):
                mask = o.get("action_mask")
            out[i, : self.sizes[i]] = 1 if mask is None else np.asarray(mask, dtype=np.uint8)
        return out

    def close(self):
        self.env.close()


def mamujoco_adapter(o, seed):
    mod = load_module("gymnasium_robotics")
    env = mod.mamujoco_v1.parallel_env(o["scenario"], o["agentConf"], agent_obsk=o["agentObsk"],
                                       **(o.get("kwargs") or {}))
    return ParallelAdapter(env, seed, o["episodeLimit"])


def pettingzoo_adapter(o, seed):
    module, _, fn = o["factory"].partition(":")
    factory = getattr(load_module(module), fn)
    return ParallelAdapter(factory(**(o.get("kwargs") or {})), seed, o["episodeLimit"], o.get("wonKey"))


class FootballAdapter:
    """gfootball.env.create_environment with M left players controlled; team reward = mean of
    the per-player rewards; state = player 0's observation; won = the left team scored."""

    def __init__(self, o, seed):
        env_mod = load_module("gfootball.env")
        self.env = env_mod.create_environment(
            env_name=o["scenario"], representation=o["representation"], rewards=o["rewards"],
            number_of_left_players_agent_controls=o["agents"], other_config_options={"game_engine_random_seed": seed})
        self.n = o["agents"]
        self._obs = np.asarray(self.env.reset(), dtype=np.float32).reshape(self.n, -1)
        self.scored = False
        n_actions = int(getattr(self.env.action_space, "nvec", [19])[0]) if hasattr(self.env.action_space, "nvec") \
            else int(getattr(self.env.action_space, "n", 19))
        self._spec = {"numAgents": self.n, "obsDim": int(self._obs.shape[1]), "stateDim": int(self._obs.shape[1]),
                      "action": {"kind": "discrete", "n": n_actions}, "episodeLimit": o["episodeLimit"]}

    def spec(self):
        return self._spec

    def reset(self, seed):
        self._obs = np.asarray(self.env.reset(), dtype=np.float32).reshape(self.n, -1)
        self.scored = False

    def step(self, actions):
        obs, reward, done, info = self.env.step([int(a) for a in actions])
        self._obs = np.asarray(obs, dtype=np.float32).reshape(self.n, -1)
        self.scored = self.scored or info.get("score_reward", 0) > 0
        return float(np.mean(reward)), bool(done), (self.scored if done else None)

    def obs(self):
        return self._obs

    def state(self):
        return self._obs[0].copy()

    def avail(self):
        return np.ones((self.n, self._spec["action"]["n"]), dtype=np.uint8)

    def close(self):
        self.env.close()


ADAPTERS = {"smacv2": Smacv2Adapter, "mamujoco": mamujoco_adapter, "football": FootballAdapter,
            "pettingzoo": pettingzoo_adapter}


# ----------------------------------------------------------------------------------- batch host
class Host:
    def __init__(self, adapter, options, num_envs, seed):
        make = ADAPTERS[adapter]
        self.envs = [make(options, seed + i) for i in range(num_envs)]
        self.spec = self.envs[0].spec()
        self.E, self.n = num_envs, self.spec["numAgents"]
        self.discrete = self.spec["action"]["kind"] == "discrete"
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.ret = np.zeros(num_envs, dtype=np.float64)
        self.resets = 0

    def _observe(self, reward, done, trunc, episodes):
        obs = np.stack([e.obs() for e in self.envs]).astype(np.float32)
        state = np.stack([e.state() for e in self.envs]).astype(np.float32)
        arrays = [("obs", obs), ("state", state), ("reward", reward), ("done", done), ("truncated", trunc)]
        if self.discrete:
            arrays.append(("avail", np.stack([e.avail() for e in self.envs]).astype(np.uint8)))
        return OBS, arrays + episode_arrays(self.E, episodes)

    def reset(self, seed):
        for i, e in enumerate(self.envs):
            e.reset(seed + i)
        self.t[:] = 0
        self.ret[:] = 0
        z = np.zeros(self.E, dtype=np.float32)
        u = np.zeros(self.E, dtype=np.uint8)
        return self._observe(z, u, u.copy(), {"returns": [], "lengths": [], "wins": []})

    def step(self, actions):
        reward = np.zeros(self.E, dtype=np.float32)
        done = np.zeros(self.E, dtype=np.uint8)
        trunc = np.zeros(self.E, dtype=np.uint8)
        episodes = {"returns": [], "lengths": [], "wins": []}
        for i, e in enumerate(self.envs):
            r, terminated, won = e.step(actions[i])
            reward[i] = r
            self.t[i] += 1
            self.ret[i] += r
            limit = self.t[i] >= self.spec["episodeLimit"]
            if terminated or limit:
                done[i] = 1 if terminated else 0
                trunc[i] = 0 if terminated else 1
                episodes["returns"].append(float(self.ret[i]))
                episodes["lengths"].append(int(self.t[i]))
                episodes["wins"].append(-1 if won is None else 1 if won else 0)
                self.resets += 1
                e.reset(None)
                self.t[i] = 0
                self.ret[i] = 0
        return self._observe(reward, done, trunc, episodes)


class VectorHost:
    """A natively batched Python env: factory(num_envs=E, seed=s, **kwargs) returns an object with
    `spec` (Baton's spec dict), `reset(seed)` and `step(actions)` returning dicts of arrays
    (obs [E,n,d], state [E,S], avail [E,n,A] for discrete; step adds reward [E], done [E],
    truncated [E] and optionally `episodes` {returns, lengths, wins} of the episodes that ended,
    in env order, wins empty or one per episode). The env auto-resets itself; arrays pass straight
    through, with no per-env Python work here."""

    def __init__(self, options, num_envs, seed):
        module, _, fn = options["factory"].partition(":")
        factory = getattr(load_module(module), fn)
        self.env = factory(num_envs=num_envs, seed=seed, **(options.get("kwargs") or {}))
        self.spec = dict(self.env.spec)
        self.E, self.n = num_envs, self.spec["numAgents"]
        self.discrete = self.spec["action"]["kind"] == "discrete"
        self.envs = [self.env]

    def _pack(self, d, first):
        E = self.E
        arrays = [("obs", np.asarray(d["obs"], dtype=np.float32)),
                  ("state", np.asarray(d["state"], dtype=np.float32)),
                  ("reward", np.zeros(E, np.float32) if first else np.asarray(d["reward"], dtype=np.float32)),
                  ("done", np.zeros(E, np.uint8) if first else np.asarray(d["done"], dtype=np.uint8)),
                  ("truncated", np.zeros(E, np.uint8) if first else np.asarray(d["truncated"], dtype=np.uint8))]
        if self.discrete:
            arrays.append(("avail", np.asarray(d["avail"], dtype=np.uint8)))
        return OBS, arrays + episode_arrays(E, None if first else d.get("episodes"))

    def reset(self, seed):
        return self._pack(self.env.reset(seed), True)

    def step(self, actions):
        return self._pack(self.env.step(actions), False)


def watch_parent():
    """Exit when the trainer dies (kill -9 included): its children are re-parented, so a change
    of the parent pid means nobody will read our frames again. Polled: prctl(PDEATHSIG) fires
    when the spawning *thread* exits, which in a multi-threaded parent is not the process."""
    import threading
    import time
    parent = os.getppid()

    def poll():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=poll, daemon=True, name="baton-parent-watch").start()


def main():
    watch_parent()
    host = None
    while True:
        try:
            header, arrays = recv()
        except Exception as e:
            send_error("protocol", "cannot read frame: %s: %s" % (type(e).__name__, e))
            return 4
        if header is None:
            return 0  # stdin closed: the trainer is gone
        t = header.get("t")
        try:
            if t == "hello":
                if header.get("v") != PROTOCOL_VERSION:
                    send_error("protocol", "protocol version %r, server speaks %d" % (header.get("v"), PROTOCOL_VERSION))
                    continue
                opts, E, seed = header.get("options") or {}, int(header["numEnvs"]), int(header["seed"])
                host = VectorHost(opts, E, seed) if header["adapter"] == "vector" else Host(header["adapter"], opts, E, seed)
                send({"t": "ready", "v": PROTOCOL_VERSION, "spec": host.spec, "numEnvs": host.E,
                      "python": sys.version.split()[0]})
            elif t == "reset":
                send(*host.reset(int(header["seed"])))
            elif t == "step":
                acts = arrays["actions"].reshape(host.E, host.n, -1)
                if host.discrete:
                    acts = acts[:, :, 0]
                send(*host.step(acts))
            elif t == "close":
                for e in (host.envs if host else []):
                    try:
                        e.close()
                    except Exception:
                        pass
                send({"t": "bye"})
                return 0
            else:
                send_error("protocol", "unknown message type %r" % (t,))
        except AdapterImportError as e:
            send_error("import", str(e), e.module)
        except Exception as e:
            tb = "".join(traceback.format_exception(type(e), e, e.__traceback__)[-4:]).strip()
            send_error("adapter", "%s: %s\nPython traceback (last frames):\n%s" % (type(e).__name__, e, tb[-1500:]))


if __name__ == "__main__":
    sys.exit(main())
