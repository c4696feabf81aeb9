import Engine

extension PackedBatch {
  /// Packs the clean tokens of `tokens` [B, L] (those not equal to `mask`) to the left of each row,
  /// and asks for predictions at the masked positions. Rows are right-padded; widths are at least 1
  /// (a row with no clean token has length 0: its queries see no key).
  /// `only`: per row, the masked positions to predict (a subset, in position order); nil: all.
  /// `seeds` [B, L]: latent tokens (`SeedTokens`) — at a masked position of `tokens` where `seeds`
  /// is not the mask, that token joins the clean set at its position (the position stays a query).
  public static func packing(_ tokens: TokenTensor, mask: Int32, only: [[Int]]? = nil,
                             seeds: TokenTensor? = nil) -> (batch: PackedBatch, queries: [[Int]]) {
    let b = tokens.shape[0], l = tokens.shape[1]
    precondition(only == nil || only!.count == b, "one query list per row")
    precondition(seeds == nil || seeds!.shape == tokens.shape, "seeds \(seeds!.shape) for tokens \(tokens.shape)")
    var clean: [[Int]] = [], masked: [[Int]] = []
    for i in 0..<b {
      var c: [Int] = [], m: [Int] = []
      for j in 0..<l {
        if tokens[i, j] == mask {
          m.append(j)
          if let seeds, seeds[i, j] != mask { c.append(j) }
        } else { c.append(j) }
      }
      clean.append(c); masked.append(m)
    }
    if let only {
      for i in 0..<b { precondition(only[i].allSatisfy { tokens[i, $0] == mask }, "queries must be masked positions") }
      masked = only
    }
    let lc = max(1, clean.map(\.count).max() ?? 0), lq = max(1, masked.map(\.count).max() ?? 0)
    var tok = [Int32](repeating: 0, count: b * lc), pos = [Int32](repeating: 0, count: b * lc)
    var qpos = [Int32](repeating: 0, count: b * lq)
    for i in 0..<b {
      for (k, j) in clean[i].enumerated() {
        tok[i * lc + k] = tokens[i, j] == mask ? seeds![i, j] : tokens[i, j]
        pos[i * lc + k] = Int32(j)
      }
      for (k, j) in masked[i].enumerated() { qpos[i * lq + k] = Int32(j) }
    }
    let batch = PackedBatch(tokens: TokenTensor(shape: [b, lc], values: tok), positions: TokenTensor(shape: [b, lc], values: pos),
                            lengths: clean.map(\.count), queryPositions: TokenTensor(shape: [b, lq], values: qpos))
    return (batch, masked)
  }
}
