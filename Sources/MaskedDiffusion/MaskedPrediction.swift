import Engine
import Networks

/// A denoiser's prediction at the masked positions of partially masked sequences — what the SDTT
/// teacher, the student's loss and the on-policy methods all read. The partition network uses its
/// packed path (the encoder sees only the clean tokens, the decoder only the masked positions);
/// the MDLM network runs over the whole sequence.
public struct MaskedPrediction {
  /// [M, V] raw logits: one row per masked position, rows in (sequence, position) order.
  public let logits: Var
  /// (row, position) of each of the M rows.
  public let positions: [(row: Int, position: Int)]
  /// The mask id (its column is removed from every distribution).
  public let mask: Int

  /// Which forward computes a partition network's predictions: the packed inference path, or
  /// (for checks) the full training-mode pass with group = (token is mask). Same values.
  public enum Path: Sendable { case packed, full }

  /// The logits at every masked position of `tokens` [B, L] (mask id = the config's mask index).
  /// `sigma` [B]: each row's conditioning input (nil: 0, as every published model). `only`: per
  /// row, the masked positions wanted (in position order; nil: all of them) — the partition
  /// network's decoder then runs on those alone. `seeds` [B, L]: latent tokens joining the clean
  /// set at masked positions (`SeedTokens`; partition network, packed path only).
  public init(_ g: Graph, _ denoiser: Denoiser, tokens: TokenTensor, path: Path = .packed, sigma: [Float]? = nil,
              only: [[Int]]? = nil, seeds: TokenTensor? = nil) {
    let mask = Int32(denoiser.config.maskIndex), l = tokens.shape[1]
    var rows: [Int] = [], at: [(row: Int, position: Int)] = []
    /// Rows of a full-length [B·L, V] output at the wanted masked positions.
    func maskedRows() {
      for i in 0..<tokens.shape[0] {
        for j in only?[i] ?? (0..<l).filter({ tokens[i, $0] == mask }) { rows.append(i * l + j); at.append((i, j)) }
      }
    }
    if seeds != nil {
      guard case .partition = denoiser, path == .packed else { preconditionFailure("seed tokens need the partition network's packed path") }
    }
    switch (denoiser, path) {
    case (.partition(let pgm), .packed):
      let (batch, queries) = PackedBatch.packing(tokens, mask: mask, only: only, seeds: seeds)
      let lq = batch.queryPositions.shape[1]
      let full = pgm.logits(g, packed: batch, sigma: sigma)
      for (i, q) in queries.enumerated() {
        for (k, j) in q.enumerated() { rows.append(i * lq + k); at.append((i, j)) }
      }
      logits = g.selectRows(full, rows)
    case (.partition(let pgm), .full):
      let groups = TokenTensor(shape: tokens.shape, values: tokens.values.map { $0 == mask ? 1 : 0 })
      let full = pgm.logits(g, tokens: tokens, groups: groups, sigma: sigma)
      maskedRows()
      logits = g.selectRows(full, rows)
    case (.mdlm(let dit), _):
      let full = dit.logits(g, tokens: tokens, sigma: sigma)
      maskedRows()
      logits = g.selectRows(full, rows)
    }
    positions = at
    self.mask = Int(mask)
  }

  /// log p(x0) at each masked position [M, V] (mask column −∞), normalised by the one masked
  /// log-softmax the student's divergence also uses.
  public func logProbabilities(_ normalization: MaskNormalization = .normalized) -> Tensor {
    MaskedLogSoftmax.logProbabilities(logits.value, mask: mask, normalization: normalization)
  }
}
