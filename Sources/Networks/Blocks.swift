import Engine

/// What every block of a forward pass shares: the conditioning vector, the attention geometry
/// and whether dropout is on.
struct BlockContext {
  /// c = SiLU(sigma_map(σ)), [B, C]: feeds every adaLN modulation.
  let cond: Var
  let heads: Int
  let dropout: Float
}

/// The six adaLN chunks of a block: Linear(C → 6D) on c, split as
/// shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp.
struct Modulation {
  let shiftMSA: Var, scaleMSA: Var, gateMSA: Var, shiftMLP: Var, scaleMLP: Var, gateMLP: Var
  init(_ g: Graph, _ ada: Linear, _ cond: Var, width d: Int) {
    let m = g.split(ada(g, cond), sizes: Array(repeating: d, count: 6), axis: 1)
    (shiftMSA, scaleMSA, gateMSA, shiftMLP, scaleMLP, gateMLP) = (m[0], m[1], m[2], m[3], m[4], m[5])
  }
}

/// Self-attention DiT block (`DDiTBlock`): MDLM blocks and the partition encoder.
///   x = x + gate_msa ⊙ attn_out(MHA(rot(q), rot(k), v)),  q|k|v = attn_qkv(modulate(norm1(x)))
///   x = x + gate_mlp ⊙ mlp(modulate(norm2(x)))
struct SelfAttentionBlock {
  let norm1: LayerNormLayer, attnQKV: Linear, attnOut: Linear, norm2: LayerNormLayer, mlp: MLP, adaLN: Linear

  init(_ p: ParameterBuilder, _ c: ModelConfig) {
    let d = c.hiddenSize
    norm1 = p.layerNorm("norm1", d, eps: c.layerNormEps)
    attnQKV = p.linear("attn_qkv", d, 3 * d, bias: false)
    attnOut = p.linear("attn_out", d, d, bias: false)
    norm2 = p.layerNorm("norm2", d, eps: c.layerNormEps)
    mlp = p.mlp("mlp", d, ratio: c.mlpRatio)
    adaLN = p.linear("adaLN_modulation", c.condDim, 6 * d, zero: true)
  }

  /// Weights of the products over tokens (not the conditioning's), for `PackedWeights`.
  var tokenWeights: [Tensor] { [attnQKV.weight, attnOut.weight, mlp.up.weight, mlp.down.weight] }

  /// x [B, L, D] at `positions` [B, L]; `mask` restricts which tokens see which. `modulation`:
  /// this block's adaLN chunks computed beforehand (frozen conditioning), else from `ctx.cond`.
  func callAsFunction(_ g: Graph, _ x: Var, _ ctx: BlockContext, positions: TokenTensor, mask: AttentionMask?,
                      modulation: Modulation? = nil) -> Var {
    let d = x.shape.last!
    let m = modulation ?? Modulation(g, adaLN, ctx.cond, width: d)
    let qkv = attnQKV(g, norm1(g, x, shift: m.shiftMSA, scale: m.scaleMSA))
    let a = g.attention(q: AttentionOperand(qkv, column: 0), k: AttentionOperand(qkv, column: d),
                        v: AttentionOperand(qkv, column: 2 * d), heads: ctx.heads, width: d,
                        queryPositions: positions, keyPositions: positions, mask: mask)
    var h = g.gatedResidual(x, attnOut(g, a), gate: m.gateMSA, dropout: ctx.dropout)
    h = g.gatedResidual(h, mlp(g, norm2(g, h, shift: m.shiftMLP, scale: m.scaleMLP)), gate: m.gateMLP, dropout: ctx.dropout)
    return h
  }
}

/// Cross-attention decoder block ("cross-only", `CrossAttnDDiTBlock`): the running decoder state
/// queries the encoder output e; keys are normalised but not modulated.
///   q = attn_q(modulate(q_norm1(x))),  k|v = attn_kv(kv_norm1(e))
///   x = x + gate_msa ⊙ attn_out(MHA(rot(q), rot(k), v)),  then the gated MLP on norm2
struct CrossAttentionBlock {
  let qNorm1: LayerNormLayer, kvNorm1: LayerNormLayer, norm2: LayerNormLayer
  let attnQ: Linear, attnKV: Linear, attnOut: Linear, mlp: MLP, adaLN: Linear

  init(_ p: ParameterBuilder, _ c: ModelConfig) {
    let d = c.hiddenSize
    qNorm1 = p.layerNorm("q_norm1", d, eps: c.layerNormEps)
    kvNorm1 = p.layerNorm("kv_norm1", d, eps: c.layerNormEps)
    norm2 = p.layerNorm("norm2", d, eps: c.layerNormEps)
    attnQ = p.linear("attn_q", d, d, bias: false)
    attnKV = p.linear("attn_kv", d, 2 * d, bias: false)
    attnOut = p.linear("attn_out", d, d, bias: false)
    mlp = p.mlp("mlp", d, ratio: c.mlpRatio)
    adaLN = p.linear("adaLN_modulation", c.condDim, 6 * d, zero: true)
  }

  var tokenWeights: [Tensor] { [attnQ.weight, attnKV.weight, attnOut.weight, mlp.up.weight, mlp.down.weight] }

  func callAsFunction(_ g: Graph, _ x: Var, encoder e: Var, _ ctx: BlockContext, queryPositions: TokenTensor,
                      keyPositions: TokenTensor, mask: AttentionMask?, modulation: Modulation? = nil) -> Var {
    let d = x.shape.last!
    let m = modulation ?? Modulation(g, adaLN, ctx.cond, width: d)
    let q = attnQ(g, qNorm1(g, x, shift: m.shiftMSA, scale: m.scaleMSA))
    let a = keyValueAttention(g, query: q, inputs: kvNorm1(g, e), keyValue: attnKV, heads: ctx.heads,
                              queryPositions: queryPositions, keyPositions: keyPositions, mask: mask)
    var h = g.gatedResidual(x, attnOut(g, a), gate: m.gateMSA, dropout: ctx.dropout)
    h = g.gatedResidual(h, mlp(g, norm2(g, h, shift: m.shiftMLP, scale: m.scaleMLP)), gate: m.gateMLP, dropout: ctx.dropout)
    return h
  }
}

/// Cross-attention whose keys and values come from one k|v projection (Linear D → 2D) of the key
/// tokens' inputs u: MHA(rot(q), rot(k), v) with k|v = keyValue(u). The decoder blocks (u =
/// kv_norm1(e)) and GroupSwap (u = e) attend this way.
///
/// Inference passes with few queries (heads·Lq < D + Lq: the sampler's decoder, 8 queries) project
/// only the keys and apply the value half after the attention weights
/// (`Graph.attention(valueInputs:)`), which is the same sum in another order: an eighth of the
/// value products at the sampler's sizes. Training and float64 passes project both halves.
func keyValueAttention(_ g: Graph, query q: Var, inputs u: Var, keyValue: Linear, heads: Int,
                       queryPositions: TokenTensor, keyPositions: TokenTensor, mask: AttentionMask?) -> Var {
  let d = q.shape.last!, lq = q.shape[1]
  if !g.recording && g.precision == .float32 && heads * lq < d + lq {
    let keys = g.linear(u, g.parameter(keyValue.weight.rows(0..<d)), keyValue.bias.map { g.parameter($0.rows(0..<d)) })
    return g.attention(q: AttentionOperand(q), k: AttentionOperand(keys), valueInputs: u,
                       valueWeight: keyValue.weight.rows(d..<(2 * d)), valueBias: keyValue.bias?.rows(d..<(2 * d)),
                       heads: heads, width: d, queryPositions: queryPositions, keyPositions: keyPositions, mask: mask)
  }
  let kv = keyValue(g, u)
  return g.attention(q: AttentionOperand(q), k: AttentionOperand(kv, column: 0), v: AttentionOperand(kv, column: d),
                     heads: heads, width: d, queryPositions: queryPositions, keyPositions: keyPositions, mask: mask)
}

/// `output_layer`: linear(modulate(norm_final(x))) with shift, scale = Linear(C → 2D)(c).
struct FinalLayer {
  let normFinal: LayerNormLayer, linear: Linear, adaLN: Linear

  init(_ p: ParameterBuilder, _ c: ModelConfig) {
    normFinal = p.layerNorm("norm_final", c.hiddenSize, eps: c.layerNormEps)
    linear = p.linear("linear", c.hiddenSize, c.vocabSize, zero: true)
    adaLN = p.linear("adaLN_modulation", c.condDim, 2 * c.hiddenSize, zero: true)
  }

  func callAsFunction(_ g: Graph, _ x: Var, cond: Var, modulation: (shift: Var, scale: Var)? = nil) -> Var {
    let m = modulation ?? self.modulation(g, cond: cond, width: x.shape.last!)
    return linear(g, normFinal(g, x, shift: m.shift, scale: m.scale))
  }

  func modulation(_ g: Graph, cond: Var, width d: Int) -> (shift: Var, scale: Var) {
    let m = g.split(adaLN(g, cond), sizes: [d, d], axis: 1)
    return (m[0], m[1])
  }
}

/// `sigma_map`: sinusoidal features of σ (256) → Linear → SiLU → Linear; the networks then apply
/// SiLU again. The published text models are not time conditioned: σ = 0 always, but the path runs
/// (its output is a learned constant and its weights get gradients).
struct TimestepEmbedder {
  let first: Linear, second: Linear
  init(_ p: ParameterBuilder, _ c: ModelConfig) {
    (first, second) = p.scope("sigma_map") {
      p.scope("mlp") { (p.linear("0", 256, c.condDim), p.linear("2", c.condDim, c.condDim)) }
    }
  }
  /// c = SiLU(mlp(features(σ))), [B, C].
  func conditioning(_ g: Graph, sigma: [Float]) -> Var {
    let features = g.constant(Sinusoidal.timestepFeatures(sigma, dim: 256))
    return g.silu(second(g, g.silu(first(g, features))))
  }
}
