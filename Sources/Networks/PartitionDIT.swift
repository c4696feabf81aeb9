import Engine

/// Clean tokens packed to the left of each row, for inference-mode passes: row b holds
/// `lengths[b]` real tokens (the rest is padding) at their sequence positions, and asks for
/// predictions at `queryPositions[b]`.
public struct PackedBatch: Sendable {
  public var tokens: TokenTensor          // [B, Lc]
  public var positions: TokenTensor       // [B, Lc]
  public var lengths: [Int]               // [B]
  public var queryPositions: TokenTensor  // [B, Lq]

  public init(tokens: TokenTensor, positions: TokenTensor, lengths: [Int], queryPositions: TokenTensor) {
    precondition(tokens.shape == positions.shape && tokens.shape[0] == lengths.count
                 && queryPositions.shape[0] == lengths.count,
                 "PackedBatch: tokens \(tokens.shape), positions \(positions.shape), \(lengths.count) lengths, queries \(queryPositions.shape)")
    precondition(lengths.allSatisfy { $0 >= 0 && $0 <= tokens.shape[1] }, "PackedBatch: lengths exceed the packed width")
    self.tokens = tokens; self.positions = positions; self.lengths = lengths; self.queryPositions = queryPositions
  }
}

/// The partition network (`PartitionDIT`): embedding → encoder → GroupSwap → cross-attention
/// decoder → final layer. Tokens are split in two groups that cannot see each other; each
/// position is predicted from the other group only.
public final class PartitionDIT {
  public let config: ModelConfig
  public let parameters = ParameterSet()
  let vocabEmbed: Tensor
  let sigmaMap: TimestepEmbedder
  let encoder: [SelfAttentionBlock]
  let groupSwap: GroupSwap
  let decoder: [CrossAttentionBlock]
  let output: FinalLayer

  /// A network with the reference's initialisation, drawn from `seed`.
  public init(config: ModelConfig, seed: UInt64 = 0) throws {
    try config.validate()
    guard config.kind == .pgm else { throw ConfigError.invalid("PartitionDIT needs kind 'pgm', got '\(config.kind)'") }
    self.config = config
    let p = ParameterBuilder(set: parameters, seed: seed)
    vocabEmbed = p.scope("vocab_embed") { p.tensor("embedding", Init.uniform([config.vocabSize, config.hiddenSize], fanIn: config.hiddenSize, &p.rng)) }
    sigmaMap = TimestepEmbedder(p, config)
    encoder = p.scope("encoder") { p.scope("blocks") { (0..<config.encoderBlocks).map { i in p.scope("\(i)") { SelfAttentionBlock(p, config) } } } }
    (groupSwap, decoder) = p.scope("decoder") {
      let swap = p.scope("group_swap") { GroupSwap(p, config) }
      let layers = p.scope("layers") { (0..<config.decoderBlocks).map { i in p.scope("\(i)") { CrossAttentionBlock(p, config) } } }
      return (swap, layers)
    }
    output = p.scope("output_layer") { FinalLayer(p, config) }
  }

  /// The blocks' shared context. `sigma` [B] is the conditioning input of each row: 0 for every
  /// published model (not time conditioned); a noise-conditioned student reads a random σ there.
  func context(_ g: Graph, batch: Int, sigma: [Float]?) -> BlockContext {
    precondition(sigma == nil || sigma!.count == batch, "one σ per row: \(sigma!.count) for \(batch) rows")
    return BlockContext(cond: sigmaMap.conditioning(g, sigma: sigma ?? [Float](repeating: 0, count: batch)),
                        heads: config.heads, dropout: config.dropout)
  }

  /// Training mode: logits [B, L, V] for every position of `tokens` [B, L], position i predicted
  /// from the tokens whose group differs from `groups[b, i]` (0/1).
  public func logits(_ g: Graph, tokens: TokenTensor, groups: TokenTensor, sigma: [Float]? = nil) -> Var {
    let b = tokens.shape[0], l = tokens.shape[1]
    precondition(groups.shape == tokens.shape, "groups \(groups.shape) for tokens \(tokens.shape)")
    precondition(groups.values.allSatisfy { $0 == 0 || $0 == 1 }, "groups must be 0 or 1")
    let ctx = context(g, batch: b, sigma: sigma)
    let positions = TokenTensor(shape: [b, l], values: (0..<(b * l)).map { Int32($0 % l) })
    let selfMask = AttentionMask.groups(groups, sameGroup: true)
    let crossMask = AttentionMask.groups(groups, sameGroup: false)
    var e = g.embedding(g.parameter(vocabEmbed), tokens)
    for block in encoder { e = block(g, e, ctx, positions: positions, mask: selfMask) }
    // A query in group k reads the aggregate of group 1−k.
    let pick = TokenTensor(shape: groups.shape, values: groups.values.map { 1 - $0 })
    var x = groupSwap(g, encoder: e, ctx, queryPositions: positions, keyPositions: positions,
                      aggregate: .init(segments: groups, count: 2, pick: pick), mask: crossMask)
    for layer in decoder {
      x = layer(g, x, encoder: e, ctx, queryPositions: positions, keyPositions: positions, mask: crossMask)
    }
    return output(g, x, cond: ctx.cond)
  }

  /// The conditioning at σ = 0 and every adaLN modulation derived from it, for `logits(_:packed:sigma:conditioning:)`.
  ///
  /// The published networks are not time conditioned: a pass without noise feeds σ = 0 through
  /// `sigma_map`, so c and each block's six modulation vectors (and the final layer's two) are
  /// constants of the weights. (A pass with a noise input σ > 0 computes them per row instead.)
  /// A caller that runs many inference passes with fixed weights (the sampler: one per batch)
  /// computes them once instead of once per pass (13 products C → 6D, the sinusoid and the MLP of
  /// `sigma_map`). The values are those a pass computes for a batch of one row, shape [1, ·], which
  /// every row of a batch then shares: identical to the per-pass values for batches of up to 8 rows
  /// (their small products round every row alike; larger batches went through OpenBLAS). Stale
  /// once the weights change.
  public final class FrozenConditioning {
    let network: ObjectIdentifier
    let encoder: [Modulation]
    let decoder: [Modulation]
    let final: (shift: Var, scale: Var)
    let cond: Var

    init(_ net: PartitionDIT) {
      let g = Graph(recording: false)
      let ctx = net.context(g, batch: 1, sigma: nil)
      let d = net.config.hiddenSize
      network = ObjectIdentifier(net)
      cond = ctx.cond
      encoder = net.encoder.map { Modulation(g, $0.adaLN, ctx.cond, width: d) }
      decoder = net.decoder.map { Modulation(g, $0.adaLN, ctx.cond, width: d) }
      final = net.output.modulation(g, cond: ctx.cond, width: d)
    }
  }

  public func frozenConditioning() -> FrozenConditioning { FrozenConditioning(self) }

  /// Every weight of a product over tokens or queries (encoder, GroupSwap, decoder, output layer;
  /// not the conditioning's, which `FrozenConditioning` computes once) repacked for inference
  /// graphs (`Graph.packedWeights`). A snapshot of the current weights.
  public func packedWeights() -> PackedWeights {
    PackedWeights(encoder.flatMap(\.tokenWeights) + groupSwap.tokenWeights + decoder.flatMap(\.tokenWeights)
                  + [output.linear.weight])
  }

  /// Inference mode: the encoder runs on the packed clean tokens only, the decoder only on the
  /// query positions. Logits [B, Lq, V]. Cost follows Lc and Lq, never L. `sigma` [B]: each row's
  /// conditioning input (nil: 0 for every row). `conditioning`: this network's
  /// `frozenConditioning()` (graphs that do not record only: it carries no gradient); it holds the
  /// values at σ = 0, so it is used only when every row's σ is 0 — with any other σ the conditioning
  /// and modulations are computed per row, as without it.
  public func logits(_ g: Graph, packed: PackedBatch, sigma: [Float]? = nil,
                     conditioning: FrozenConditioning? = nil) -> Var {
    let b = packed.lengths.count, lc = packed.tokens.shape[1], lq = packed.queryPositions.shape[1]
    let frozen = (sigma ?? []).allSatisfy { $0 == 0 } ? conditioning : nil
    if let frozen {
      precondition(frozen.network == ObjectIdentifier(self), "frozen conditioning of another network")
      precondition(!g.recording, "frozen conditioning carries no gradient: use it on graphs that do not record")
      precondition(sigma == nil || sigma!.count == b, "one σ per row: \(sigma!.count) for \(b) rows")
    }
    let ctx = frozen.map { BlockContext(cond: $0.cond, heads: config.heads, dropout: config.dropout) }
      ?? context(g, batch: b, sigma: sigma)
    let padded = packed.lengths.contains { $0 < lc }
    let selfMask = padded ? AttentionMask.keyLengths(packed.lengths, queries: lc, keys: lc) : nil
    let crossMask = padded ? AttentionMask.keyLengths(packed.lengths, queries: lq, keys: lc) : nil
    var e = g.embedding(g.parameter(vocabEmbed), packed.tokens)
    for (i, block) in encoder.enumerated() {
      e = block(g, e, ctx, positions: packed.positions, mask: selfMask, modulation: frozen?.encoder[i])
    }
    var segments = [Int32](repeating: -1, count: b * lc)
    for bi in 0..<b { for j in 0..<packed.lengths[bi] { segments[bi * lc + j] = 0 } }
    var x = groupSwap(g, encoder: e, ctx, queryPositions: packed.queryPositions, keyPositions: packed.positions,
                      aggregate: .init(segments: TokenTensor(shape: [b, lc], values: segments), count: 1,
                                       pick: TokenTensor(shape: [b, lq], repeating: 0)),
                      mask: crossMask)
    for (i, layer) in decoder.enumerated() {
      x = layer(g, x, encoder: e, ctx, queryPositions: packed.queryPositions, keyPositions: packed.positions, mask: crossMask,
                modulation: frozen?.decoder[i])
    }
    return output(g, x, cond: ctx.cond, modulation: frozen?.final)
  }
}
