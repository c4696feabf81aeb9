"""Independent float64 implementation of the PGM partition network and the MDLM DIT.

Written from /work/shared/reference/SPEC.md (not a port of the PyTorch code) to produce
reference data of arbitrary sizes in the golden format.  Everything is plain JAX in float64;
gradients come from jax.grad.

Conventions (SPEC §1-§4):
  * parameters live in a flat dict keyed by the reference's parameter names;
  * Linear weights are [out, in];
  * heads are head-major in the feature axis;
  * rotary and GroupSwap sinusoid tables are built in float32 and then upcast, like the
    reference buffers (see `rotary_tables`, `position_sinusoids`).
"""

import math

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

NEG_INF = -1e6  # the reference's "large-finite" minus infinity
LOGLINEAR_EPS = 1e-3


# --------------------------------------------------------------------------------------
# Parameter layout
# --------------------------------------------------------------------------------------

def _self_block_params(prefix, D, C, ratio):
    return [
        (prefix + "norm1.weight", (D,)),
        (prefix + "attn_qkv.weight", (3 * D, D)),
        (prefix + "attn_out.weight", (D, D)),
        (prefix + "norm2.weight", (D,)),
        (prefix + "mlp.0.weight", (ratio * D, D)),
        (prefix + "mlp.0.bias", (ratio * D,)),
        (prefix + "mlp.2.weight", (D, ratio * D)),
        (prefix + "mlp.2.bias", (D,)),
        (prefix + "adaLN_modulation.weight", (6 * D, C)),
        (prefix + "adaLN_modulation.bias", (6 * D,)),
    ]


def _cross_block_params(prefix, D, C, ratio):
    return [
        (prefix + "q_norm1.weight", (D,)),
        (prefix + "kv_norm1.weight", (D,)),
        (prefix + "norm2.weight", (D,)),
        (prefix + "attn_q.weight", (D, D)),
        (prefix + "attn_kv.weight", (2 * D, D)),
        (prefix + "attn_out.weight", (D, D)),
        (prefix + "mlp.0.weight", (ratio * D, D)),
        (prefix + "mlp.0.bias", (ratio * D,)),
        (prefix + "mlp.2.weight", (D, ratio * D)),
        (prefix + "mlp.2.bias", (D,)),
        (prefix + "adaLN_modulation.weight", (6 * D, C)),
        (prefix + "adaLN_modulation.bias", (6 * D,)),
    ]


def parameter_shapes(cfg):
    """(name, shape) in the order the reference registers its parameters.

    Order rule of torch's named_parameters: a module's own parameters first, then its
    sub-modules in the order they were assigned.  GroupSwap's `base_embedding` is a bare
    parameter, so it precedes `pre_query_norm` even though the norm is created first.
    """
    D, C, V = cfg["hidden_size"], cfg["cond_dim"], cfg["vocab_size"]
    out = [
        ("vocab_embed.embedding", (V, D)),
        ("sigma_map.mlp.0.weight", (C, 256)),
        ("sigma_map.mlp.0.bias", (C,)),
        ("sigma_map.mlp.2.weight", (C, C)),
        ("sigma_map.mlp.2.bias", (C,)),
    ]
    if cfg["kind"] == "mdlm":
        # The reference DIT builds its blocks with the default MLP ratio 4.
        for i in range(cfg["n_blocks"]):
            out += _self_block_params(f"blocks.{i}.", D, C, 4)
    else:
        r = cfg["mlp_ratio"]
        for i in range(cfg["encoder_blocks"]):
            out += _self_block_params(f"encoder.blocks.{i}.", D, C, r)
        g = "decoder.group_swap."
        out += [
            (g + "base_embedding", (1, D)),
            (g + "pre_query_norm.weight", (D,)),
            (g + "pre_query_norm.bias", (D,)),
        ]
        if cfg["query_process_mode"] == "linear":
            out += [(g + "query_processor.weight", (D, D)), (g + "query_processor.bias", (D,))]
        elif cfg["query_process_mode"] == "mlp4":
            out += [
                (g + "query_processor.0.weight", (4 * D, D)),
                (g + "query_processor.0.bias", (4 * D,)),
                (g + "query_processor.2.weight", (D, 4 * D)),
                (g + "query_processor.2.bias", (D,)),
            ]
        else:
            raise ValueError(cfg["query_process_mode"])
        out += [
            (g + "hidden_to_key_value.weight", (2 * D, D)),
            (g + "hidden_to_key_value.bias", (2 * D,)),
            (g + "output_linear.weight", (D, D)),
            (g + "output_linear.bias", (D,)),
        ]
        for i in range(cfg["decoder_blocks"]):
            out += _cross_block_params(f"decoder.layers.{i}.", D, C, r)
    out += [
        ("output_layer.norm_final.weight", (D,)),
        ("output_layer.linear.weight", (V, D)),
        ("output_layer.linear.bias", (V,)),
        ("output_layer.adaLN_modulation.weight", (2 * D, C)),
        ("output_layer.adaLN_modulation.bias", (2 * D,)),
    ]
    return out


def is_norm_weight(name):
    """LayerNorm scales (drawn around 1 rather than around 0)."""
    return name.endswith("norm1.weight") or name.endswith("norm2.weight") or \
        name.endswith("norm_final.weight") or name.endswith("pre_query_norm.weight")


# --------------------------------------------------------------------------------------
# Fixed tables (float32, as the reference buffers)
# --------------------------------------------------------------------------------------

def rotary_tables(dh, positions):
    """cos, sin of shape [..., dh] for integer positions, GPT-NeoX layout [a, a].

    The reference keeps inv_freq as a float32 buffer and evaluates the angle table in
    float32; the result is upcast to float64 here.
    """
    j = np.arange(0, dh, 2, dtype=np.float32)
    inv_freq = (np.float32(1.0) / (np.float32(10000.0) ** (j / np.float32(dh)))).astype(np.float32)
    p = np.asarray(positions).astype(np.float32)
    ang = (p[..., None] * inv_freq).astype(np.float32)
    ang = np.concatenate([ang, ang], axis=-1)
    return np.cos(ang).astype(np.float64), np.sin(ang).astype(np.float64)


def position_sinusoids(D, positions):
    """GroupSwap `pos_freqs` rows: [cos(p / 10000^(2i/D)), sin(...)], built in float32."""
    i = np.arange(D // 2, dtype=np.float32)
    denom = (np.float32(10000.0) ** (np.float32(2.0) * i / np.float32(D))).astype(np.float32)
    p = np.asarray(positions).astype(np.float32)
    arg = (p[..., None] / denom).astype(np.float32)
    return np.concatenate([np.cos(arg), np.sin(arg)], axis=-1).astype(np.float64)


def sigma_features(sigma):
    """256 sinusoidal features of the scalar sigma (float32 as in the reference)."""
    half = 128
    f = np.exp(-math.log(10000.0) * np.arange(half, dtype=np.float32) / half).astype(np.float32)
    a = (np.asarray(sigma, dtype=np.float32)[:, None] * f[None]).astype(np.float32)
    return np.concatenate([np.cos(a), np.sin(a)], axis=-1).astype(np.float64)


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------

def _const(p, a):
    """A fixed table in the working precision (that of the parameters)."""
    return jnp.asarray(a, dtype=p["vocab_embed.embedding"].dtype)


def linear(x, p, name, bias=True):
    y = x @ p[name + ".weight"].T
    if bias:
        y = y + p[name + ".bias"]
    return y


def layer_norm(x, weight, bias=None, eps=1e-5):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mu) ** 2, axis=-1, keepdims=True)
    y = (x - mu) / jnp.sqrt(var + eps) * weight
    if bias is not None:
        y = y + bias
    return y


def gelu_tanh(x):
    return 0.5 * x * (1.0 + jnp.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x * jax.nn.sigmoid(x)


def modulate(x, shift, scale):
    return x * (1.0 + scale) + shift


def rotate(x, cos, sin):
    """x: [B, S, h, dh]; cos/sin: [B or 1, S, dh]."""
    half = x.shape[-1] // 2
    rh = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos[:, :, None, :] + rh * sin[:, :, None, :]


def split_heads(x, h):
    B, S, F = x.shape
    return x.reshape(B, S, h, F // h)


def attention(q, k, v, mask):
    """q [B,Sq,h,dh], k/v [B,Sk,h,dh], mask [B,Sq,Sk] (True = may attend) or None."""
    dh = q.shape[-1]
    s = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(dh)
    if mask is not None:
        s = jnp.where(mask[:, None], s, -jnp.inf)
    a = jax.nn.softmax(s, axis=-1)
    o = jnp.einsum("bhqk,bkhd->bqhd", a, v)
    B, S = o.shape[:2]
    return o.reshape(B, S, -1)


def conditioning(p, sigma):
    f = _const(p, sigma_features(sigma))
    c = linear(f, p, "sigma_map.mlp.0")
    c = linear(silu(c), p, "sigma_map.mlp.2")
    return silu(c)  # [B, C]


def chunks(m, n):
    return jnp.split(m[:, None, :], n, axis=-1)


def self_block(p, pre, x, c, cos, sin, mask, h, eps):
    sh1, sc1, g1, sh2, sc2, g2 = chunks(linear(c, p, pre + "adaLN_modulation"), 6)
    y = modulate(layer_norm(x, p[pre + "norm1.weight"], eps=eps), sh1, sc1)
    qkv = linear(y, p, pre + "attn_qkv", bias=False)
    D = x.shape[-1]
    q, k, v = (split_heads(qkv[..., i * D:(i + 1) * D], h) for i in range(3))
    a = attention(rotate(q, cos, sin), rotate(k, cos, sin), v, mask)
    x = x + g1 * linear(a, p, pre + "attn_out", bias=False)
    y = modulate(layer_norm(x, p[pre + "norm2.weight"], eps=eps), sh2, sc2)
    y = linear(gelu_tanh(linear(y, p, pre + "mlp.0")), p, pre + "mlp.2")
    return x + g2 * y


def cross_block(p, pre, x, e, c, qcos, qsin, kcos, ksin, mask, h, eps):
    sh1, sc1, g1, sh2, sc2, g2 = chunks(linear(c, p, pre + "adaLN_modulation"), 6)
    D = x.shape[-1]
    y = modulate(layer_norm(x, p[pre + "q_norm1.weight"], eps=eps), sh1, sc1)
    q = split_heads(linear(y, p, pre + "attn_q", bias=False), h)
    kv = linear(layer_norm(e, p[pre + "kv_norm1.weight"], eps=eps), p, pre + "attn_kv", bias=False)
    k, v = split_heads(kv[..., :D], h), split_heads(kv[..., D:], h)
    a = attention(rotate(q, qcos, qsin), rotate(k, kcos, ksin), v, mask)
    x = x + g1 * linear(a, p, pre + "attn_out", bias=False)
    y = modulate(layer_norm(x, p[pre + "norm2.weight"], eps=eps), sh2, sc2)
    y = linear(gelu_tanh(linear(y, p, pre + "mlp.0")), p, pre + "mlp.2")
    return x + g2 * y


def final_layer(p, x, c, eps):
    shift, scale = chunks(linear(c, p, "output_layer.adaLN_modulation"), 2)
    y = modulate(layer_norm(x, p["output_layer.norm_final.weight"], eps=eps), shift, scale)
    return linear(y, p, "output_layer.linear")


# --------------------------------------------------------------------------------------
# MDLM DIT
# --------------------------------------------------------------------------------------

def dit_forward(p, cfg, xt, sigma=None):
    B, L = xt.shape
    eps = cfg.get("layernorm_eps", 1e-5)
    h = cfg["n_heads"]
    dh = cfg["hidden_size"] // h
    sigma = np.zeros(B) if sigma is None else sigma
    c = conditioning(p, sigma)
    cos, sin = (_const(p, t)[None] for t in rotary_tables(dh, np.arange(L)))
    x = p["vocab_embed.embedding"][xt]
    for i in range(cfg["n_blocks"]):
        x = self_block(p, f"blocks.{i}.", x, c, cos, sin, None, h, eps)
    return final_layer(p, x, c, eps)


# --------------------------------------------------------------------------------------
# Partition network
# --------------------------------------------------------------------------------------

def _aggregate(e, keep, mode):
    """Per-feature mean / logsumexp of e [B,S,D] over the entries where keep [B,S] is True."""
    keep = keep[..., None]
    if mode == "mean":
        n = jnp.maximum(jnp.sum(keep, axis=1), 1)
        return jnp.sum(jnp.where(keep, e, 0.0), axis=1) / n
    # logsumexp; an empty set contributes 0 (never generated by make_cases)
    m = jnp.max(jnp.where(keep, e, -jnp.inf), axis=1, keepdims=True)
    m_safe = jnp.where(jnp.isfinite(m), m, 0.0)
    s = jnp.sum(jnp.where(keep, jnp.exp(e - m_safe), 0.0), axis=1)
    any_ = jnp.any(keep, axis=1)
    return jnp.where(any_, jnp.log(jnp.where(any_, s, 1.0)) + m_safe[:, 0], 0.0)


def _query_processor(p, cfg, q):
    g = "decoder.group_swap.query_processor"
    if cfg["query_process_mode"] == "linear":
        return linear(q, p, g)
    return linear(silu(linear(q, p, g + ".0")), p, g + ".2")


def group_swap(p, cfg, e, query_positions, extra, qcos, qsin, kcos, ksin, mask):
    """extra: [B, Sq, D] aggregate of the other group (or None)."""
    D = cfg["hidden_size"]
    h = cfg["n_heads"]
    mode = cfg["pre_query_mode"]
    g = "decoder.group_swap."
    B, Sq = query_positions.shape
    q = jnp.broadcast_to(p[g + "base_embedding"][None], (B, Sq, D))
    if "freqs" in mode:
        q = q + _const(p, position_sinusoids(D, query_positions))
    if extra is not None:
        q = q + extra
    q = layer_norm(q, p[g + "pre_query_norm.weight"], p[g + "pre_query_norm.bias"], eps=1e-5)
    q = split_heads(_query_processor(p, cfg, q), h)
    kv = linear(e, p, g + "hidden_to_key_value")
    k, v = split_heads(kv[..., :D], h), split_heads(kv[..., D:], h)
    a = attention(rotate(q, qcos, qsin), rotate(k, kcos, ksin), v, mask)
    return linear(a, p, g + "output_linear")


def _agg_mode(cfg):
    m = cfg["pre_query_mode"]
    if m in ("learn", "learn+freqs"):
        return None
    if m == "learn+freqs+mean":
        return "mean"
    if m == "learn+freqs+logsumexp":
        return "logsumexp"
    raise ValueError(m)


def pgm_forward_train(p, cfg, x0, groups):
    """Training mode: every position predicted from the other group.  groups: [B, L] in {0,1}."""
    B, L = x0.shape
    eps = cfg.get("layernorm_eps", 1e-5)
    h = cfg["n_heads"]
    dh = cfg["hidden_size"] // h
    c = conditioning(p, np.zeros(B))
    pos = np.broadcast_to(np.arange(L), (B, L))
    cos, sin = (_const(p, t) for t in rotary_tables(dh, pos))
    g = jnp.asarray(groups)
    same = g[:, :, None] == g[:, None, :]
    other = ~same
    x = p["vocab_embed.embedding"][x0]
    for i in range(cfg["encoder_blocks"]):
        x = self_block(p, f"encoder.blocks.{i}.", x, c, cos, sin, same, h, eps)
    e = x
    agg = _agg_mode(cfg)
    extra = None
    if agg is not None:
        a0 = _aggregate(e, g == 0, agg)  # [B, D]
        a1 = _aggregate(e, g == 1, agg)
        extra = jnp.where((g == 1)[..., None], a0[:, None], a1[:, None])
    y = group_swap(p, cfg, e, pos, extra, cos, sin, cos, sin, other)
    for i in range(cfg["decoder_blocks"]):
        y = cross_block(p, f"decoder.layers.{i}.", y, e, c, cos, sin, cos, sin, other, h, eps)
    return final_layer(p, y, c, eps)


def pgm_forward_infer(p, cfg, x, clean_positions, concrete_lengths, noisy_positions):
    """Packed inference mode.  x, clean_positions: [B, Lc] (right padded);
    concrete_lengths: [B]; noisy_positions: [B, Lq].  Returns logits [B, Lq, V]."""
    B, Lc = x.shape
    Lq = noisy_positions.shape[1]
    eps = cfg.get("layernorm_eps", 1e-5)
    h = cfg["n_heads"]
    dh = cfg["hidden_size"] // h
    c = conditioning(p, np.zeros(B))
    kcos, ksin = (_const(p, t) for t in rotary_tables(dh, clean_positions))
    qcos, qsin = (_const(p, t) for t in rotary_tables(dh, noisy_positions))
    real = jnp.arange(Lc)[None, :] < jnp.asarray(concrete_lengths)[:, None]  # [B, Lc]
    enc_mask = jnp.broadcast_to(real[:, None, :], (B, Lc, Lc))
    dec_mask = jnp.broadcast_to(real[:, None, :], (B, Lq, Lc))
    e = p["vocab_embed.embedding"][x]
    for i in range(cfg["encoder_blocks"]):
        e = self_block(p, f"encoder.blocks.{i}.", e, c, kcos, ksin, enc_mask, h, eps)
    agg = _agg_mode(cfg)
    extra = None
    if agg is not None:
        extra = jnp.broadcast_to(_aggregate(e, real, agg)[:, None], (B, Lq, e.shape[-1]))
    y = group_swap(p, cfg, e, np.asarray(noisy_positions), extra, qcos, qsin, kcos, ksin, dec_mask)
    for i in range(cfg["decoder_blocks"]):
        y = cross_block(p, f"decoder.layers.{i}.", y, e, c, qcos, qsin, kcos, ksin, dec_mask, h, eps)
    return final_layer(p, y, c, eps)


# --------------------------------------------------------------------------------------
# Losses (SPEC §4)
# --------------------------------------------------------------------------------------

def loglinear(t):
    """alpha(t), alpha'(t) of the log-linear schedule."""
    return 1.0 - (1.0 - LOGLINEAR_EPS) * t, -(1.0 - LOGLINEAR_EPS) * jnp.ones_like(t)


def weight(t):
    a, da = loglinear(t)
    return da / (1.0 - a)


def mdlm_token_loss(logits, xt, x0, t, mask_id):
    """MDLM ELBO per token (subs parameterisation)."""
    V = logits.shape[-1]
    z = jnp.where(jnp.arange(V) == mask_id, logits + NEG_INF, logits)  # mask logit += -1e6
    logp = jax.nn.log_softmax(z, axis=-1)
    lp = jnp.take_along_axis(logp, x0[..., None], axis=-1)[..., 0]
    # An unmasked position is a point mass on its own token: log p(x0) = 0 there.
    lp = jnp.where(xt == mask_id, lp, 0.0)
    return weight(t)[:, None] * lp


def pgm_token_loss(logits, x0, groups, t, mask_id):
    """Partition ELBO per token, both groups (training loss: /2)."""
    V = logits.shape[-1]
    z = jnp.where(jnp.arange(V) == mask_id, -jnp.inf, logits)
    logp = jax.nn.log_softmax(z, axis=-1)
    lp = jnp.take_along_axis(logp, x0[..., None], axis=-1)[..., 0]
    w = jnp.where(groups != 0, weight(t)[:, None], weight(1.0 - t)[:, None])
    return w * lp / 2.0


def mdlm_loss(p, cfg, x0, xt, t):
    logits = dit_forward(p, cfg, xt)
    tl = mdlm_token_loss(logits, jnp.asarray(xt), jnp.asarray(x0), _const(p, t), cfg["mask_index"])
    return jnp.mean(tl), (logits, tl)


def pgm_loss(p, cfg, x0, groups, t):
    logits = pgm_forward_train(p, cfg, x0, groups)
    tl = pgm_token_loss(logits, jnp.asarray(x0), jnp.asarray(groups), _const(p, t), cfg["mask_index"])
    return jnp.mean(tl), (logits, tl)


def train_outputs(params, cfg, x0, t, groups=None, xt=None, dtype=np.float64):
    """loss, logits, token_loss and d loss / d params (numpy, float64 by default).

    dtype=np.float32 runs the same computation with float32 activations; make_cases uses it
    only to estimate how far a float32 implementation may drift from the float64 values."""
    p = {k: jnp.asarray(v, dtype=dtype) for k, v in params.items()}
    x0 = np.asarray(x0)
    t = np.asarray(t, dtype=np.float64)
    if cfg["kind"] == "mdlm":
        fn = lambda q: mdlm_loss(q, cfg, x0, np.asarray(xt), t)  # noqa: E731
    else:
        fn = lambda q: pgm_loss(q, cfg, x0, np.asarray(groups), t)  # noqa: E731
    (loss, (logits, tl)), grads = jax.value_and_grad(fn, has_aux=True)(p)
    return {
        "loss": float(loss),
        "logits": np.asarray(logits),
        "token_loss": np.asarray(tl),
        "grads": {k: np.asarray(v) for k, v in grads.items()},
    }


def infer_outputs(params, cfg, x, clean_positions, concrete_lengths, noisy_positions, dtype=np.float64):
    p = {k: jnp.asarray(v, dtype=dtype) for k, v in params.items()}
    return np.asarray(pgm_forward_infer(p, cfg, np.asarray(x), np.asarray(clean_positions),
                                        np.asarray(concrete_lengths), np.asarray(noisy_positions)))
