#!/usr/bin/env python3
"""Check reference.py against the golden folders, then write reference folders of other sizes.

    python3 scripts/reference-cases/make_cases.py --out /tmp/refcases

Step 1 recomputes every golden folder (../shared/golden) from its weights and inputs and prints
the worst relative error per tensor group, next to a noise floor: how much the same outputs move
when every weight is perturbed by one float32 rounding step.  Step 2 writes, under --out:
  * golden-replay-<name>: the golden weights and inputs with this implementation's outputs
    (so `pgm verify` can compare two implementations on identical inputs);
  * one folder per entry of CASES, in the golden format, with fresh random weights.
Nothing here is the reference code: see README.md.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

GOLDEN = "/work/shared/golden"
GOLDEN_FOLDERS = ["pgm-tiny", "pgm-tiny-mean-mlp4", "pgm-tiny-logsumexp", "mdlm-tiny"]

PGM_LOSS = "PartitionMDLM ELBO, train_mode=True, loglinear eps=1e-3, token mean"
MDLM_LOSS = "MDLM ELBO (subs parameterization, post_process orig), loglinear eps=1e-3, token mean"

# name, network, sizes.  B = batch.  Seeds are fixed so that the folders are reproducible.
CASES = [
    dict(name="pgm-freqs-linear-d64-h2-e3d1", kind="pgm", D=64, h=2, C=24, enc=3, dec=1, L=40, V=53, B=5,
         mode="learn+freqs", qp="linear", ratio=4, seed=101),
    dict(name="pgm-learn-mlp4-d32-h8-e1d1", kind="pgm", D=32, h=8, C=8, enc=1, dec=1, L=17, V=11, B=2,
         mode="learn", qp="mlp4", ratio=4, seed=102),
    dict(name="pgm-mean-linear-d96-h6-e2d2", kind="pgm", D=96, h=6, C=32, enc=2, dec=2, L=33, V=101, B=4,
         mode="learn+freqs+mean", qp="linear", ratio=4, seed=103),
    dict(name="pgm-lse-mlp4-d80-h5-e1d2-r2", kind="pgm", D=80, h=5, C=20, enc=1, dec=2, L=48, V=29, B=3,
         mode="learn+freqs+logsumexp", qp="mlp4", ratio=2, seed=104),
    dict(name="pgm-freqs-mlp4-d16-h8-e2d3-r3", kind="pgm", D=16, h=8, C=6, enc=2, dec=3, L=12, V=7, B=2,
         mode="learn+freqs", qp="mlp4", ratio=3, seed=105),  # head size 2: one rotary frequency
    dict(name="mdlm-d72-h3-b4", kind="mdlm", D=72, h=3, C=12, blocks=4, L=31, V=67, B=4, seed=201),
    dict(name="mdlm-d16-h1-b1", kind="mdlm", D=16, h=1, C=4, blocks=1, L=9, V=5, B=1, seed=202),
]


def rel(a, b):
    """max|a - b| / max|b|, the measure `pgm verify` uses."""
    den = float(np.abs(b).max())
    return float(np.abs(np.asarray(a, np.float64) - b).max()) / (den if den > 0 else 1.0)


def group_of(name):
    """Tensor group for reports: parameter name up to the block index."""
    parts = name.split(".")
    for i, s in enumerate(parts):
        if s.isdigit():
            return ".".join(parts[:i + 1])
    return ".".join(parts[:2])


# --------------------------------------------------------------------------------------
# Running the reference on a folder's inputs
# --------------------------------------------------------------------------------------

def compute(cfg, weights, cases):
    """This implementation's outputs for the inputs of a cases dict (float64)."""
    t = cases["train.t"].astype(np.float64)
    out = R.train_outputs(weights, cfg, cases["train.x0"], t,
                          groups=cases.get("train.group_idxs"), xt=cases.get("train.xt"))
    if cfg["kind"] == "pgm":
        out["infer_logits"] = R.infer_outputs(weights, cfg, cases["infer.x"], cases["infer.clean_positions"],
                                              cases["infer.concrete_lengths"], cases["infer.noisy_positions"])
    return out


def compare(out, cases):
    """{group: worst relative error} of out against a cases dict."""
    errs = {
        "train.logits": rel(out["logits"], cases["train.logits"]),
        "train.loss": rel(np.array([out["loss"]]), cases["train.loss"]),
        "train.token_loss": rel(out["token_loss"], cases["train.token_loss"]),
    }
    if "infer_logits" in out:
        errs["infer.logits"] = rel(out["infer_logits"], cases["infer.logits"])
    worst_grad = (0.0, "")
    for k, g in out["grads"].items():
        e = rel(g, cases["grad." + k])
        worst_grad = max(worst_grad, (e, k))
        errs["grad " + group_of(k)] = max(errs.get("grad " + group_of(k), 0.0), e)
    errs["grad (worst)"] = worst_grad[0]
    errs["_worst_grad_name"] = worst_grad[1]
    return errs


def outputs_to_cases(cfg, inputs, out):
    """Golden-format cases dict: int64 inputs, float32 outputs."""
    c = {k: np.asarray(v) for k, v in inputs.items()}
    c["train.logits"] = out["logits"].astype(np.float32)
    c["train.token_loss"] = out["token_loss"].astype(np.float32)
    c["train.loss"] = np.array([out["loss"]], dtype=np.float32)
    for k, g in out["grads"].items():
        c["grad." + k] = g.astype(np.float32)
    if cfg["kind"] == "pgm":
        c["infer.logits"] = out["infer_logits"].astype(np.float32)
    return c


def write_folder(path, cfg, weights32, cases):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights32.items()},
              os.path.join(path, "weights.safetensors"))
    save_file({k: np.ascontiguousarray(v) for k, v in cases.items()}, os.path.join(path, "cases.safetensors"))


# --------------------------------------------------------------------------------------
# Step 1: the golden folders
# --------------------------------------------------------------------------------------

def reproduce_golden(out_dir, noise_floor=True):
    print("== golden reproduction (max|ours - golden| / max|golden| per tensor group)")
    summary = {}
    for name in GOLDEN_FOLDERS:
        folder = os.path.join(GOLDEN, name)
        cfg = json.load(open(os.path.join(folder, "config.json")))
        w32 = load_file(os.path.join(folder, "weights.safetensors"))
        cases = load_file(os.path.join(folder, "cases.safetensors"))
        shapes = R.parameter_shapes(cfg)
        assert [n for n, _ in shapes] == cfg["parameter_order"], f"{name}: parameter order differs"
        assert sorted(w32) == sorted(cfg["parameter_order"]), f"{name}: weight names differ"
        for n, s in shapes:
            assert tuple(w32[n].shape) == s, f"{name}: {n} has shape {w32[n].shape}, expected {s}"
        w = {k: v.astype(np.float64) for k, v in w32.items()}
        t0 = time.time()
        out = compute(cfg, w, cases)
        errs = compare(out, cases)
        line = {k: v for k, v in errs.items() if not k.startswith("_")}
        worst = max(line.values())
        print(f"-- {name}: worst {worst:.2e}  (logits {errs['train.logits']:.2e}, "
              f"token_loss {errs['train.token_loss']:.2e}, loss {errs['train.loss']:.2e}, "
              f"grad {errs['grad (worst)']:.2e} at {errs['_worst_grad_name']}"
              + (f", infer.logits {errs['infer.logits']:.2e}" if "infer.logits" in errs else "")
              + f")  [{time.time() - t0:.1f}s]")
        summary[name] = dict(errors=line, worst=worst)
        if noise_floor:
            # The golden outputs come from a float64 run whose weights were stored as float32
            # afterwards (or carry float32 rounding somewhere else).  Perturb every weight by
            # one float32 rounding step to see how far outputs move for that reason alone.
            rng = np.random.default_rng(0)
            wp = {k: v * (1.0 + rng.uniform(-1, 1, v.shape) * 2.0 ** -24) for k, v in w.items()}
            outp = compute(cfg, wp, cases)
            floor = {
                "train.logits": rel(outp["logits"], out["logits"]),
                "grad (worst)": max(rel(outp["grads"][k], out["grads"][k]) for k in w),
            }
            if "infer_logits" in out:
                floor["infer.logits"] = rel(outp["infer_logits"], out["infer_logits"])
            print("   noise floor from float32 weight rounding: " +
                  ", ".join(f"{k} {v:.2e}" for k, v in floor.items()))
            summary[name]["noise_floor"] = floor
        if out_dir:
            inputs = {k: v for k, v in cases.items() if k.startswith("train.") and k not in
                      ("train.logits", "train.token_loss", "train.loss")}
            inputs.update({k: v for k, v in cases.items() if k.startswith("infer.") and k != "infer.logits"})
            write_folder(os.path.join(out_dir, "golden-replay-" + name), cfg, w32,
                         outputs_to_cases(cfg, inputs, out))
    return summary


# --------------------------------------------------------------------------------------
# Step 2: new folders
# --------------------------------------------------------------------------------------

def make_config(c):
    base = dict(kind=c["kind"], vocab_size=c["V"], mask_index=c["V"] - 1, hidden_size=c["D"], n_heads=c["h"],
                cond_dim=c["C"], length=c["L"])
    if c["kind"] == "mdlm":
        base.update(mlp_ratio=4, n_blocks=c["blocks"], layernorm_eps=1e-05, loss=MDLM_LOSS,
                    time_conditioning=False)
    else:
        base.update(mlp_ratio=c["ratio"], encoder_blocks=c["enc"], decoder_blocks=c["dec"],
                    pre_query_mode=c["mode"], query_process_mode=c["qp"], normalize_mode="layernorm",
                    layernorm_eps=1e-05, loss=PGM_LOSS, time_conditioning=False)
    base["parameter_order"] = [n for n, _ in R.parameter_shapes(base)]
    return base


def random_weights(cfg, rng):
    """Every parameter random (also those the reference initialises to zero), float32."""
    scale = float(np.clip(0.25 * np.sqrt(48.0 / cfg["hidden_size"]), 0.1, 0.5))
    w = {}
    for n, s in R.parameter_shapes(cfg):
        if R.is_norm_weight(n):
            v = 1.0 + 0.1 * rng.standard_normal(s)
        else:
            v = scale * rng.standard_normal(s)
        w[n] = v.astype(np.float32)
    return w


def draw_times(B, rng):
    """Antithetic times as in pretraining, t = (1-1e-3)u + 1e-3, rounded to float32."""
    r = rng.uniform(size=B)
    u = (r / B + np.arange(B) / B) % 1.0
    return ((1 - 1e-3) * u + 1e-3).astype(np.float32)


def draw_groups(t, L, rng, singleton_row=None):
    """group 1 with probability 1 - alpha(t); both groups non-empty in every row (a query that
    sees no key is NaN in the reference).  singleton_row gets exactly one group-1 token."""
    B = len(t)
    g = np.zeros((B, L), dtype=np.int64)
    for b in range(B):
        p1 = (1 - 1e-3) * float(t[b])
        while True:
            row = (rng.uniform(size=L) < p1).astype(np.int64)
            if 0 < row.sum() < L:
                break
        if b == singleton_row:
            row[:] = 0
            row[rng.integers(L)] = 1
        g[b] = row
    return g


def draw_inference(B, L, V, rng):
    """Packed inference inputs with ragged lengths.  Pads carry random tokens and positions
    (they must not matter)."""
    lengths = rng.integers(1, L, size=B)
    lengths[0] = 1
    if B > 1:
        lengths[1] = max(lengths[1], L // 2)
    Lc = int(lengths.max())
    Lq = int(rng.integers(1, L - Lc + 1))
    x = rng.integers(0, V - 1, size=(B, Lc))
    clean = rng.integers(0, L, size=(B, Lc))
    noisy = np.zeros((B, Lq), dtype=np.int64)
    for b in range(B):
        perm = rng.permutation(L)
        n = int(lengths[b])
        clean[b, :n] = perm[:n]
        noisy[b] = perm[n:n + Lq]  # queries at positions that are not clean (L - n >= Lq)
    return dict(x=x.astype(np.int64), clean_positions=clean.astype(np.int64),
                concrete_lengths=lengths.astype(np.int64), noisy_positions=noisy)


def float32_floor(cfg, w32, cases, out):
    """Worst relative error of this implementation run with float32 activations against its own
    float64 outputs: roughly what a correct float32 implementation can be expected to show."""
    o = R.train_outputs(w32, cfg, cases["train.x0"], cases["train.t"], groups=cases.get("train.group_idxs"),
                        xt=cases.get("train.xt"), dtype=np.float32)
    if cfg["kind"] == "pgm":
        o["infer_logits"] = R.infer_outputs(w32, cfg, cases["infer.x"], cases["infer.clean_positions"],
                                            cases["infer.concrete_lengths"], cases["infer.noisy_positions"],
                                            dtype=np.float32)
    errs = compare(o, outputs_to_cases(cfg, {}, out))
    errs["grad " + errs["_worst_grad_name"]] = errs.pop("grad (worst)")
    return max((v, k) for k, v in errs.items() if not k.startswith("_"))


def train_infer_consistency(cfg, w64, cases):
    """Training-mode logits at group-1 positions must equal inference-mode logits when the clean
    tokens are the group-0 tokens (packed, right padded with junk).  Returns the relative error."""
    x0, g = cases["train.x0"], cases["train.group_idxs"]
    B, L = x0.shape
    logits = R.pgm_forward_train({k: R.jnp.asarray(v) for k, v in w64.items()}, cfg, x0, g)
    logits = np.asarray(logits)
    n0 = (g == 0).sum(1)
    n1 = (g == 1).sum(1)
    Lc, Lq = int(n0.max()) + 1, int(n1.max())  # one extra pad column at least
    rng = np.random.default_rng(7)
    x = rng.integers(0, cfg["vocab_size"], size=(B, Lc))
    cp = rng.integers(0, L, size=(B, Lc))
    qp = np.zeros((B, Lq), dtype=np.int64)
    worst = 0.0
    for b in range(B):
        p0, p1 = np.flatnonzero(g[b] == 0), np.flatnonzero(g[b] == 1)
        perm = rng.permutation(len(p0))  # packing order must not matter
        x[b, :len(p0)], cp[b, :len(p0)] = x0[b, p0[perm]], p0[perm]
        qp[b, :len(p1)] = p1
        qp[b, len(p1):] = p1[0]
    inf = R.infer_outputs(w64, cfg, x, cp, n0, qp)
    for b in range(B):
        p1 = np.flatnonzero(g[b] == 1)
        worst = max(worst, rel(inf[b, :len(p1)], logits[b, p1]))
    return worst


def make_case(c):
    rng = np.random.default_rng(c["seed"])
    cfg = make_config(c)
    B, L, V = c["B"], c["L"], c["V"]
    w32 = random_weights(cfg, rng)
    x0 = rng.integers(0, V - 1, size=(B, L)).astype(np.int64)  # clean data never holds the mask id
    t = draw_times(B, rng)
    inputs = {"train.x0": x0, "train.sigma": np.zeros(B, np.float32), "train.t": t}
    if c["kind"] == "pgm":
        inputs["train.group_idxs"] = draw_groups(t, L, rng, singleton_row=B - 1 if B > 1 else None)
        inf = draw_inference(B, L, V, rng)
        inputs.update({"infer." + k: v for k, v in inf.items()})
    else:
        move = rng.uniform(size=(B, L)) < (1 - 1e-3) * t.astype(np.float64)[:, None]
        move[0, 0] = True       # at least one masked and one clean token
        move[-1, -1] = False
        inputs["train.xt"] = np.where(move, V - 1, x0).astype(np.int64)
    w64 = {k: v.astype(np.float64) for k, v in w32.items()}
    out = compute(cfg, w64, inputs)
    for k in ("logits", "token_loss"):
        assert np.all(np.isfinite(out[k])), f"{c['name']}: non-finite {k}"
    assert all(np.all(np.isfinite(g)) for g in out["grads"].values()), f"{c['name']}: non-finite grad"
    return cfg, w32, outputs_to_cases(cfg, inputs, out), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/refcases", help="where to write the folders")
    ap.add_argument("--skip-golden", action="store_true", help="do not re-check the golden folders")
    ap.add_argument("--no-noise-floor", action="store_true", help="skip the weight-rounding noise floor")
    ap.add_argument("--no-float32-floor", action="store_true",
                    help="skip the float32-activation run that estimates float32 drift")
    ap.add_argument("--only", nargs="*", help="names of CASES to build (default: all)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    manifest = {}
    if not args.skip_golden:
        manifest["golden_reproduction"] = reproduce_golden(args.out, noise_floor=not args.no_noise_floor)
    print("== new folders")
    for c in CASES:
        if args.only and c["name"] not in args.only:
            continue
        t0 = time.time()
        cfg, w32, cases, out = make_case(c)
        write_folder(os.path.join(args.out, c["name"]), cfg, w32, cases)
        lg = out["logits"]
        print(f"-- {c['name']}: loss {out['loss']:.4f}, |logits| max {np.abs(lg).max():.2f} "
              f"std {lg.std():.2f}" + (f", |infer logits| max {np.abs(out['infer_logits']).max():.2f}"
                                       if "infer_logits" in out else "") + f"  [{time.time() - t0:.1f}s]")
        manifest[c["name"]] = {k: v for k, v in c.items() if k != "name"}
        if cfg["kind"] == "pgm":
            e = train_infer_consistency(cfg, {k: v.astype(np.float64) for k, v in w32.items()}, cases)
            print(f"   training vs packed inference logits (group-0 tokens clean): {e:.1e}")
            assert e < 1e-10, "training and inference modes disagree"
            manifest[c["name"]]["train_infer_consistency"] = e
        if not args.no_float32_floor:
            f, where = float32_floor(cfg, w32, cases, out)
            print(f"   float32-activation run of this implementation: worst {f:.2e} ({where})")
            manifest[c["name"]]["float32_floor"] = f
    with open(os.path.join(args.out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
