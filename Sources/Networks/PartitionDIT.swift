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

  /// Inference mode: the encoder runs on the packed clean tokens only, the decoder only on the
  /// query positions. Logits [B, Lq, V]. Cost follows Lc and Lq, never L.
  public func logits(_ g: Graph, packed: PackedBatch, sigma: [Float]? = nil) -> Var {
    let b = packed.lengths.count, lc = packed.tokens.shape[1], lq = packed.queryPositions.shape[1]
    let ctx = context(g, batch: b, sigma: sigma)
    let padded = packed.lengths.contains { $0 < lc }
    let selfMask = padded ? AttentionMask.keyLengths(packed.lengths, queries: lc, keys: lc) : nil
    let crossMask = padded ? AttentionMask.keyLengths(packed.lengths, queries: lq, keys: lc) : nil
    var e = g.embedding(g.parameter(vocabEmbed), packed.tokens)
    for block in encoder { e = block(g, e, ctx, positions: packed.positions, mask: selfMask) }
    var segments = [Int32](repeating: -1, count: b * lc)
    for bi in 0..<b { for j in 0..<packed.lengths[bi] { segments[bi * lc + j] = 0 } }
    var x = groupSwap(g, encoder: e, ctx, queryPositions: packed.queryPositions, keyPositions: packed.positions,
                      aggregate: .init(segments: TokenTensor(shape: [b, lc], values: segments), count: 1,
                                       pick: TokenTensor(shape: [b, lq], repeating: 0)),
                      mask: crossMask)
    for layer in decoder {
      x = layer(g, x, encoder: e, ctx, queryPositions: packed.queryPositions, keyPositions: packed.positions, mask: crossMask)
    }
    return output(g, x, cond: ctx.cond)
  }
}
