/// Analytic FLOP counts, counted as PyTorch users do: 2·m·n·k for every matrix product, attention
/// as dense products over all (query, key) pairs, element-wise work not counted. A training step
/// is 3 × the forward.
public enum FlopCount {
  /// Self-attention block: `tokens` tokens in all, each attending to `keysPerQuery` keys.
  static func selfBlock(_ c: ModelConfig, tokens: Double, keysPerQuery: Double) -> Double {
    let d = Double(c.hiddenSize), r = Double(c.mlpRatio)
    return tokens * (2 * d * 3 * d + 2 * d * d + 2 * 2 * d * r * d + 4 * keysPerQuery * d)
  }

  /// Cross-attention block: `queries` in all over `keysPerQuery` keys; k|v for `keyTokens` tokens.
  static func crossBlock(_ c: ModelConfig, queries: Double, keysPerQuery: Double, keyTokens: Double) -> Double {
    let d = Double(c.hiddenSize), r = Double(c.mlpRatio)
    return queries * (2 * d * d + 2 * d * d + 2 * 2 * d * r * d + 4 * keysPerQuery * d) + keyTokens * 2 * d * 2 * d
  }

  /// GroupSwap: the query processor on `queryRows` rows (shared across the batch when queries
  /// depend on positions only), k|v on `keyTokens`, output projection and attention per query.
  static func groupSwap(_ c: ModelConfig, queries: Double, queryRows: Double, keysPerQuery: Double,
                        keyTokens: Double) -> Double {
    let d = Double(c.hiddenSize)
    let processor = c.queryProcessMode == .linear ? 2 * d * d : 2 * 2 * d * 4 * d
    return queryRows * processor + keyTokens * 2 * d * 2 * d + queries * (2 * d * d + 4 * keysPerQuery * d)
  }

  static func output(_ c: ModelConfig, tokens: Double) -> Double { tokens * 2 * Double(c.hiddenSize) * Double(c.vocabSize) }

  /// Partition network, training mode, batch × length.
  public static func partitionTraining(_ c: ModelConfig, batch: Int, length: Int) -> Double {
    let n = Double(batch * length), l = Double(length)
    let shared = !c.preQueryMode.usesAggregate
    return Double(c.encoderBlocks) * selfBlock(c, tokens: n, keysPerQuery: l)
      + groupSwap(c, queries: n, queryRows: shared ? l : n, keysPerQuery: l, keyTokens: n)
      + Double(c.decoderBlocks) * crossBlock(c, queries: n, keysPerQuery: l, keyTokens: n)
      + output(c, tokens: n)
  }

  /// Partition network, inference mode: per row `clean` packed tokens and `queries` queries.
  public static func partitionInference(_ c: ModelConfig, batch: Int, clean: Int, queries: Int) -> Double {
    let b = Double(batch), lc = Double(clean), lq = Double(queries)
    return Double(c.encoderBlocks) * selfBlock(c, tokens: b * lc, keysPerQuery: lc)
      + groupSwap(c, queries: b * lq, queryRows: b * lq, keysPerQuery: lc, keyTokens: b * lc)
      + Double(c.decoderBlocks) * crossBlock(c, queries: b * lq, keysPerQuery: lc, keyTokens: b * lc)
      + output(c, tokens: b * lq)
  }

  /// MDLM / AR network over batch × length.
  public static func dit(_ c: ModelConfig, batch: Int, length: Int) -> Double {
    let n = Double(batch * length)
    return Double(c.blocks) * selfBlock(c, tokens: n, keysPerQuery: Double(length)) + output(c, tokens: n)
  }
}
