"""PyTorch side of bench/learner.ts: one BPPO iteration's learner work, written the way Baton's
algos/bppo.ts computes it (docs/bpta.md §4 and §4c, paper estimator), on random inputs of the
same shapes, so that Baton and PyTorch are timed on the same computation:

- acting: T steps, agents in chain order, each a forward pass of its actor on E rows plus a
  forward pass of each critic (what a rollout costs the learner; the env itself is not timed);
- the update: agents in reverse order, each with `epochs` full-batch PPO steps of the own term
  (factor M_k) plus the peer term g_k . x_k (x_k rebuilt from stored Gumbel noise), then the
  factor rho_k and the feedback d(rho_k A_k)/du to its predecessors; then the critics' epochs
  (clipped Huber value loss); Adam with global-norm clipping per network.

Networks as Baton's (algos/ppo/agents.ts): base = LN(in) -> [Linear, ReLU, LN] x layers,
a conditioned actor adds the same MLP on [u * mask_i, onehot(i)] and LayerNorms the sum,
head Linear (gain 0.01); critics: the same base on the state and a Linear(1) head.

Protocol: one JSON config line on argv[1]; then for every line "act" or "update" on stdin it runs
that phase once and prints the seconds it took, so the caller can alternate short windows of
Baton and PyTorch in one run. PyTorch keeps its default thread count (as the issue asks).
"""
import json, sys, time
import torch
from torch import nn

cfg = json.loads(sys.argv[1])
n, A, obs_dim, state_dim = cfg["n"], cfg["A"], cfg["obsDim"], cfg["stateDim"]
N, E, T = cfg["N"], cfg["E"], cfg["T"]
hidden, layers, epochs = cfg["hidden"], cfg["layers"], cfg["epochs"]
clip, ent_coef, max_norm, tau, fb_max = 0.2, 0.01, 10.0, 1.0, 10.0
torch.manual_seed(0)


def mlp(inp):
    mods = [nn.LayerNorm(inp)]
    for l in range(layers):
        mods += [nn.Linear(inp if l == 0 else hidden, hidden), nn.ReLU(), nn.LayerNorm(hidden)]
    return nn.Sequential(*mods)


class Actor(nn.Module):
    def __init__(self):
        super().__init__()
        self.base, self.cond = mlp(obs_dim), mlp(n * A + n)
        self.fuse, self.head = nn.LayerNorm(hidden), nn.Linear(hidden, A)

    def forward(self, o, c):
        return self.head(self.fuse(self.base(o) + self.cond(c)))


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.base, self.head = mlp(state_dim), nn.Linear(hidden, 1)

    def forward(self, s):
        return self.head(self.base(s)).squeeze(-1)


actors, critics = [Actor() for _ in range(n)], [Critic() for _ in range(n)]
aopt = [torch.optim.Adam(a.parameters(), lr=5e-4, eps=1e-5) for a in actors]
copt = [torch.optim.Adam(c.parameters(), lr=5e-4, eps=1e-5) for c in critics]
masks = []
for i in range(n):
    m = torch.zeros(n * A)
    m[: i * A] = 1  # identity chain order: agent i sees agents 0..i-1
    masks.append(m)
ids = torch.eye(n)


def cond_input(i, u):
    return torch.cat([u * masks[i], ids[i].expand(u.shape[0], n)], 1)


obs = torch.randn(n, N, obs_dim)
state = torch.randn(N, state_dim)
act = torch.randint(0, A, (n, N))
onehot = nn.functional.one_hot(act, A).float()  # [n, N, A]
u = onehot.permute(1, 0, 2).reshape(N, n * A)
noise = -torch.log(-torch.log(torch.rand(n, N, A).clamp_min(1e-20)))
logp_old = torch.full((n, N), -2.3)
adv = torch.randn(n, N)
ret, v_old = torch.randn(n, N), torch.randn(n, N)


def logp_of(k, uu):
    lp = torch.log_softmax(actors[k](obs[k], cond_input(k, uu)), -1)
    return lp.gather(1, act[k][:, None]).squeeze(1), lp


def step(opt, params, loss):
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(params, max_norm)
    opt.step()


def huber(e, d=10.0):
    a = e.abs()
    q = a.clamp(max=d)
    return 0.5 * q * q + d * (a - q)


def update():
    factor = [torch.ones(N) for _ in range(n)]
    G = [[None] * n for _ in range(n)]
    updated = []
    for k in reversed(range(n)):
        prod = torch.ones(N)
        for j in updated:
            prod = prod * factor[j]
        M = prod.clamp(1 - clip / 2, 1 + clip / 2)
        g = None
        for j in updated:
            if G[j][k] is None:
                continue
            w = torch.ones(N)
            for l in updated:
                if l != j:
                    w = w * factor[l]
            term = G[j][k] * w.clamp(1 - clip / 2, 1 + clip / 2)[:, None]
            g = term if g is None else g + term
        if g is not None:  # per-sample row-norm clip (paper estimator)
            g = g * (fb_max / g.norm(dim=1, keepdim=True).clamp_min(fb_max))
        with torch.no_grad():
            before, _ = logp_of(k, u)
        params = list(actors[k].parameters())
        for _ in range(epochs):
            logp, lp = logp_of(k, u)
            ratio = torch.exp(logp - logp_old[k])
            own1 = ratio * adv[k] * M
            own2 = ratio.clamp(1 - clip, 1 + clip) * adv[k] * M
            if g is not None:
                y = torch.softmax((lp + noise[k]) / tau, -1)  # log-softmax shifts logits only
                x = onehot[k] + y - y.detach()
                peer = (g * x).sum(1)
                rs = ratio.detach()
                own1 = own1 + rs * peer
                own2 = own2 + rs.clamp(1 - clip, 1 + clip) * peer
            entropy = -(lp.exp() * lp).sum(1).mean()
            loss = -torch.min(own1, own2).mean() - ent_coef * entropy
            step(aopt[k], params, loss)
        with torch.no_grad():
            after, _ = logp_of(k, u)
            factor[k] = torch.exp(after - before)
        if k > 0:
            uu = u.clone().requires_grad_(True)
            lp_k, _ = logp_of(k, uu)
            J = (torch.exp(lp_k - before) * adv[k]).sum()
            (d,) = torch.autograd.grad(J, uu)
            for i in range(k):
                G[k][i] = d[:, i * A : (i + 1) * A]
        updated.append(k)
    for _ in range(epochs):
        losses = []
        for i in range(n):
            v = critics[i](state)
            vc = v_old[i] + (v - v_old[i]).clamp(-clip, clip)
            losses.append(torch.max(huber(ret[i] - v), huber(ret[i] - vc)).mean())
        for o in copt:
            o.zero_grad()
        sum(losses).backward()
        for i in range(n):
            nn.utils.clip_grad_norm_(critics[i].parameters(), max_norm)
            copt[i].step()


def rollout():
    with torch.no_grad():
        for t in range(T):
            uu = torch.zeros(E, n * A)
            o = obs[:, :E]
            for i in range(n):
                logits = actors[i](o[i], cond_input(i, uu))
                a = torch.argmax(logits - torch.log(-torch.log(torch.rand(E, A))), -1)
                uu[torch.arange(E), i * A + a] = 1
            for i in range(n):
                critics[i](state[:E])


print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    what = line.strip()
    t0 = time.perf_counter()
    if what == "update":
        update()
    elif what == "act":
        rollout()
    else:
        break
    print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)
