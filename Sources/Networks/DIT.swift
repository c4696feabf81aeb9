import Engine

/// The MDLM baseline (`DIT`): embedding → self-attention blocks over all L positions (no mask,
/// rotary at 0..<L) → final layer. With kind `ar` the same network is causal (each position sees
/// itself and the positions before it) and serves as this project's autoregressive evaluator.
public final class DIT {
  public let config: ModelConfig
  public let parameters = ParameterSet()
  let vocabEmbed: Tensor
  let sigmaMap: TimestepEmbedder
  let blocks: [SelfAttentionBlock]
  let output: FinalLayer

  public init(config: ModelConfig, seed: UInt64 = 0) throws {
    try config.validate()
    guard config.kind == .mdlm || config.kind == .ar else {
      throw ConfigError.invalid("DIT needs kind 'mdlm' or 'ar', got '\(config.kind)'")
    }
    self.config = config
    let p = ParameterBuilder(set: parameters, seed: seed)
    vocabEmbed = p.scope("vocab_embed") { p.tensor("embedding", Init.uniform([config.vocabSize, config.hiddenSize], fanIn: config.hiddenSize, &p.rng)) }
    sigmaMap = TimestepEmbedder(p, config)
    blocks = p.scope("blocks") { (0..<config.blocks).map { i in p.scope("\(i)") { SelfAttentionBlock(p, config) } } }
    output = p.scope("output_layer") { FinalLayer(p, config) }
  }

  /// Every weight of a linear layer (blocks, adaLN, sigma_map, output layer) repacked for inference
  /// graphs (`Graph.packedWeights`). A snapshot of the current weights.
  public func packedWeights() -> PackedWeights {
    PackedWeights(blocks.flatMap { $0.tokenWeights + [$0.adaLN.weight] } + [sigmaMap.first.weight, sigmaMap.second.weight,
                                                                            output.linear.weight, output.adaLN.weight])
  }

  /// Logits [B, L, V] for `tokens` [B, L] (MDLM: noisy tokens with mask ids).
  /// `sigma` [B]: each row's conditioning input (0 for every published model; a noise-conditioned
  /// student reads a random σ there).
  public func logits(_ g: Graph, tokens: TokenTensor, sigma: [Float]? = nil) -> Var {
    let b = tokens.shape[0], l = tokens.shape[1]
    precondition(sigma == nil || sigma!.count == b, "one σ per row")
    let ctx = BlockContext(cond: sigmaMap.conditioning(g, sigma: sigma ?? [Float](repeating: 0, count: b)),
                           heads: config.heads, dropout: config.dropout)
    let positions = TokenTensor(shape: [b, l], values: (0..<(b * l)).map { Int32($0 % l) })
    let mask = config.kind == .ar ? AttentionMask(items: b, queries: l, keys: l) { _, i, j in j <= i } : nil
    var x = g.embedding(g.parameter(vocabEmbed), tokens)
    for block in blocks { x = block(g, x, ctx, positions: positions, mask: mask) }
    return output(g, x, cond: ctx.cond)
  }
}
