import Engine

/// Predictions at the masked positions of partially masked sequences — what the SDTT teacher and
/// student both need. The partition network uses its packed path (the encoder sees only the clean
/// tokens, the decoder only the masked positions); the MDLM network runs over the whole sequence.
public struct MaskedPositionLogits {
  /// [M, V]: one row per masked position, rows in (sequence, position) order.
  public let logits: Var
  /// (row, position) of each of the M rows.
  public let positions: [(row: Int, position: Int)]

  public init(logits: Var, positions: [(row: Int, position: Int)]) {
    self.logits = logits
    self.positions = positions
  }
}

extension PackedBatch {
  /// Packs the clean tokens of `tokens` [B, L] (those not equal to `mask`) to the left of each row,
  /// and asks for predictions at the masked positions. Rows are right-padded; widths are at least 1
  /// (a row with no clean token has length 0: its queries see no key).
  public static func packing(_ tokens: TokenTensor, mask: Int32) -> (batch: PackedBatch, queries: [[Int]]) {
    let b = tokens.shape[0], l = tokens.shape[1]
    var clean: [[Int]] = [], masked: [[Int]] = []
    for i in 0..<b {
      var c: [Int] = [], m: [Int] = []
      for j in 0..<l { if tokens[i, j] == mask { m.append(j) } else { c.append(j) } }
      clean.append(c); masked.append(m)
    }
    let lc = max(1, clean.map(\.count).max() ?? 0), lq = max(1, masked.map(\.count).max() ?? 0)
    var tok = [Int32](repeating: 0, count: b * lc), pos = [Int32](repeating: 0, count: b * lc)
    var qpos = [Int32](repeating: 0, count: b * lq)
    for i in 0..<b {
      for (k, j) in clean[i].enumerated() { tok[i * lc + k] = tokens[i, j]; pos[i * lc + k] = Int32(j) }
      for (k, j) in masked[i].enumerated() { qpos[i * lq + k] = Int32(j) }
    }
    let batch = PackedBatch(tokens: TokenTensor(shape: [b, lc], values: tok), positions: TokenTensor(shape: [b, lc], values: pos),
                            lengths: clean.map(\.count), queryPositions: TokenTensor(shape: [b, lq], values: qpos))
    return (batch, masked)
  }
}

extension DiffusionNetwork {
  /// Logits at every masked position of `tokens` [B, L] (mask id = the config's mask index).
  public func maskedPositionLogits(_ g: Graph, tokens: TokenTensor) -> MaskedPositionLogits {
    let mask = Int32(config.maskIndex)
    switch self {
    case let pgm as PartitionDIT:
      let (batch, queries) = PackedBatch.packing(tokens, mask: mask)
      let lq = batch.queryPositions.shape[1]
      let logits = pgm.logits(g, packed: batch)
      var rows: [Int] = [], where_: [(row: Int, position: Int)] = []
      for (i, q) in queries.enumerated() {
        for (k, j) in q.enumerated() { rows.append(i * lq + k); where_.append((i, j)) }
      }
      return MaskedPositionLogits(logits: g.selectRows(logits, rows), positions: where_)
    case let dit as DIT:
      let l = tokens.shape[1]
      let logits = dit.logits(g, tokens: tokens)
      var rows: [Int] = [], where_: [(row: Int, position: Int)] = []
      for i in 0..<tokens.shape[0] {
        for j in 0..<l where tokens[i, j] == mask { rows.append(i * l + j); where_.append((i, j)) }
      }
      return MaskedPositionLogits(logits: g.selectRows(logits, rows), positions: where_)
    default:
      preconditionFailure("no masked-position logits for \(type(of: self))")
    }
  }
}
