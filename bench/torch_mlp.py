"""PyTorch side of bench/bench.ts: the same per-agent actor MLP (LayerNorm'd 64-wide ReLU base +
linear head), timed for a forward and for forward+backward+Adam, single-threaded, on this CPU.
Prints one JSON line. Run by the benchmark with Debian's /usr/bin/python3 (python3-torch)."""
import json, sys, time
import torch
from torch import nn

torch.set_num_threads(1)
obs, hidden, acts = 64, 64, 16
def net():
    return nn.Sequential(nn.LayerNorm(obs), nn.Linear(obs, hidden), nn.ReLU(), nn.LayerNorm(hidden), nn.Linear(hidden, acts))

out = {"torch": torch.__version__, "forward_ms": {}, "train_ms": {}}
for B in [int(b) for b in sys.argv[1].split(",")]:
    m = net(); opt = torch.optim.Adam(m.parameters(), lr=5e-4, eps=1e-5)
    x = torch.randn(B, obs); a = torch.randint(0, acts, (B,)); adv = torch.randn(B)
    reps = max(5, min(200, 20000 // B))
    with torch.no_grad():
        for _ in range(3): m(x)
        t = time.perf_counter()
        for _ in range(reps): m(x)
        out["forward_ms"][B] = (time.perf_counter() - t) / reps * 1e3
    def step():
        logp = torch.log_softmax(m(x), -1).gather(1, a[:, None]).squeeze(1)
        loss = -(logp * adv).mean()
        opt.zero_grad(); loss.backward(); nn.utils.clip_grad_norm_(m.parameters(), 10); opt.step()
    for _ in range(3): step()
    t = time.perf_counter()
    for _ in range(reps): step()
    out["train_ms"][B] = (time.perf_counter() - t) / reps * 1e3
print(json.dumps(out))
