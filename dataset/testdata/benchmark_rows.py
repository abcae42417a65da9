"""Expected rows of `mfn dataset --preset benchmark`, computed with numpy.

This is an independent numpy implementation of the reference's ReactionDiffusionEngine
(numerical-core.md §5.2-5.3) and compute_features (§15.2), written from the spec, run with
numpy's own default_rng, summation, pow and polyfit (Debian's python3-numpy 1.24.2, the
reference's numpy version). It checks itself against the spec's goldens (§15.3 a, §20.1)
before printing the benchmark preset's rows (pipelines/scenarios.py "benchmark_small":
grid 32, 32 steps, alpha 0.15, Turing on, seeds 42..46) and three rows of the "default"
sweep (two with Turing off) as JSON, floats in repr.

Regenerate: python3 dataset/testdata/benchmark_rows.py > dataset/testdata/benchmark_rows.json
"""
import json
import sys

import numpy as np


def lap(u):
    return np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1) - 4.0 * u


def engine(n, steps, alpha, seed, turing=True, p=0.25, theta=0.75):
    rng = np.random.default_rng(seed)
    v = rng.normal(-0.070, 0.005, size=(n, n))
    a = rng.uniform(0, 0.1, size=(n, n))
    i = rng.uniform(0, 0.1, size=(n, n))
    hist = np.empty((steps, n, n))
    growth = turing_act = clamping = 0
    for s in range(steps):
        if rng.random() < p:
            r, c = rng.integers(0, n), rng.integers(0, n)
            v[r, c] += float(rng.normal(0.02, 0.005))
            growth += 1
        v = v + alpha * lap(v)
        if turing:
            la, li = lap(a), lap(i)
            da = 0.1 * la
            da += 0.01 * (a * (1 - a) - i)
            di = 0.05 * li
            di += 0.02 * (a - i)
            a = a + da
            i = i + di
            mask = a > theta
            if mask.sum():
                v[mask] += 0.005
                turing_act += int(mask.sum())
            a = np.clip(a, 0.0, 1.0)
            i = np.clip(i, 0.0, 1.0)
        out = (v > 0.040) | (v < -0.095)
        clamping += int(np.count_nonzero(out))
        v = np.clip(v, -0.095, 0.040)
        assert np.isfinite(v).all() and np.isfinite(a).all() and np.isfinite(i).all()
        hist[s] = v
    return hist, growth, turing_act, clamping, a, i


def box_dim(binary, min_box=2, num_scales=5):
    n = binary.shape[0]
    max_box = min(min_box * 2 ** (num_scales - 1), n // 2 if n >= 4 else n)
    sizes = np.unique(np.geomspace(min_box, max(max_box, min_box), num_scales).astype(int))
    xs, ys = [], []
    for s in sizes:
        k = n // s
        if s <= 0 or k == 0:
            continue
        c = int(binary[: k * s, : k * s].reshape(k, s, k, s).any(axis=(1, 3)).sum())
        if c > 0:
            xs.append(s)
            ys.append(c)
    if len(xs) < 2:
        return 0.0, 0.0
    x = np.log(1.0 / np.array(xs, dtype=np.float64))
    y = np.log(np.array(ys, dtype=np.float64))
    coef = np.polyfit(x, y, 1)
    pred = np.polyval(coef, x)
    ss_res, ss_tot = np.sum((y - pred) ** 2), np.sum((y - np.mean(y)) ** 2)
    r2 = float(1.0 - ss_res / ss_tot) if ss_tot > 0 else 0.0
    return float(coef[0]), max(0.0, min(1.0, r2))


def clusters(mask):
    n, m = mask.shape
    parent = list(range(n * m))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r in range(n):
        for c in range(m):
            if mask[r, c]:
                if c + 1 < m and mask[r, c + 1]:
                    parent[find(r * m + c)] = find(r * m + c + 1)
                if r + 1 < n and mask[r + 1, c]:
                    parent[find(r * m + c)] = find((r + 1) * m + c)
    ids, sizes = {}, []
    for r in range(n):
        for c in range(m):
            if mask[r, c]:
                root = find(r * m + c)
                if root not in ids:
                    ids[root] = len(sizes)
                    sizes.append(0)
                sizes[ids[root]] += 1
    return len(sizes), sizes


def features(hist):
    field = hist[-1]
    T = len(hist)
    low, med, high = field > -0.060, field > -0.050, field > -0.040
    d, r2 = box_dim(low)
    mv = field * 1000.0
    vmin, vmax, vmean, vstd = float(np.min(mv)), float(np.max(mv)), float(np.mean(mv)), float(np.std(mv))
    skew = kurt = 0.0
    if vstd > 1e-10:
        c = mv - vmean
        skew = float(np.mean(c ** 3)) / vstd ** 3
        kurt = float(np.mean(c ** 4)) / vstd ** 4 - 3.0
    hmv = hist * 1000.0
    diffs = np.abs(hmv[1:] - hmv[:-1])
    dvmean, dvmax = float(np.mean(diffs)), float(np.max(diffs))
    tstable = T
    if T > 10:
        run = 0
        for t, sd in enumerate(float(np.std(x)) for x in diffs):
            run = run + 1 if sd < 0.001 else 0
            if run >= 10:
                tstable = t - 10 + 2
                break
    energies = np.array([float(np.sum(h ** 2)) for h in hmv])
    etrend = float(np.polyfit(np.arange(T, dtype=np.float64), energies, 1)[0])
    nlow, sizes = clusters(low)
    return [d, r2, vmin, vmax, vmean, vstd, skew, kurt, dvmean, dvmax, float(tstable), etrend,
            float(np.mean(low)), float(nlow), float(clusters(med)[0]), float(clusters(high)[0]),
            float(max(sizes) if sizes else 0), float(np.std(sizes)) if len(sizes) > 1 else 0.0]


def self_check():
    # §15.3 (a) and §20.1: ReactionDiffusionEngine(grid 32, seed 42), 50 steps.
    hist, g, ta, cl, a, i = engine(32, 50, 0.18, 42)
    f = hist[-1]
    assert (g, ta, cl) == (17, 0, 0)
    assert float(np.min(f)) == -0.07082453196698339 and float(np.max(f)) == -0.06497201831234893
    assert float(np.mean(f)) == -0.06980622579323571 and float(np.std(f)) == 0.0005802650650273584
    assert float(np.mean(a)) == 0.049293825589986164 and float(np.mean(i)) == 0.049853632917373
    fv = features(hist)
    want = [0, 0, -70.82453196698339, -64.97201831234894, -69.80622579323571, 0.5802650650273583,
            1.5739464684123596, 8.283504366176222, 0.0665068353732083, 8.169057149533387, 50,
            -989.2320298013447, 0, 0, 0, 0, 0, 0]
    for got, w in zip(fv, want):
        assert abs(got - w) <= 1e-9 * abs(w) + 1e-12, (got, w)


def main():
    self_check()
    rows = []
    for sim_id in range(5):
        seed = 42 + sim_id
        hist, g, ta, cl, _, _ = engine(32, 32, 0.15, seed)
        rows.append({"sim_id": sim_id, "scenario_name": "benchmark_small", "grid_size": 32, "steps": 32,
                     "alpha": 0.15, "turing_enabled": True, "random_seed": seed,
                     "features": [repr(x) for x in features(hist)],
                     "growth_events": g, "turing_activations": ta, "clamping_events": cl})
    # A few samples of the "default" sweep (generate_parameter_configs order: grid, steps,
    # alpha, Turing, 3 seeds; seed 42 + sim_id), Turing off included.
    sweep = []
    for sim_id, grid, steps, alpha, turing in [(3, 32, 50, 0.10, False), (42, 64, 50, 0.15, True),
                                               (71, 64, 100, 0.20, False)]:
        hist, g, ta, cl, _, _ = engine(grid, steps, alpha, 42 + sim_id, turing=turing)
        sweep.append({"sim_id": sim_id, "scenario_name": "", "grid_size": grid, "steps": steps,
                      "alpha": alpha, "turing_enabled": turing, "random_seed": 42 + sim_id,
                      "features": [repr(x) for x in features(hist)],
                      "growth_events": g, "turing_activations": ta, "clamping_events": cl})
    json.dump({"numpy": np.__version__, "rows": rows, "sweep_rows": sweep}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
