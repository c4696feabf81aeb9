import Engine
import MaskedDiffusion
import Networks

/// How a batch of clean sequences becomes a loss, for each kind of network (SPEC §4): draws the
/// times (stratified over the batch), the partition groups or the MDLM mask, and evaluates the
/// ELBO; the autoregressive evaluator is next-token prediction.
public enum TrainingObjective {
  /// The training loss of `network` on clean rows `x0` [B, L].
  public static func loss(_ g: Graph, network: Network, x0: TokenTensor, rng: inout RandomStream) -> LossResult {
    loss(g, network: network, x0: x0, within: (0, x0.shape[0]), rng: &rng)
  }

  /// The same for rows `x0` that are rows `first ..< first + B` of a batch of `batch` rows split
  /// between data-parallel workers: the noise of the whole batch is drawn (so that `rng` moves on
  /// alike on every worker) and these rows take theirs.
  public static func loss(_ g: Graph, network: Network, x0: TokenTensor, within: (first: Int, batch: Int),
                          rng: inout RandomStream) -> LossResult {
    let rows = within.first ..< within.first + x0.shape[0], l = x0.shape[1]
    precondition(rows.upperBound <= within.batch, "rows \(rows) of a batch of \(within.batch)")
    func noise() -> (t: [Double], moved: ArraySlice<Bool>) {
      let t = TimeDraw.stratifiedPerRow(within.batch, rng: &rng)
      let moved = Masking.draw(shape: [within.batch, l], times: t, rng: &rng)
      return (Array(t[rows]), moved[(rows.lowerBound * l) ..< (rows.upperBound * l)])
    }
    switch network {
    case .partition(let pgm):
      let (t, moved) = noise()
      let groups = TokenTensor(shape: x0.shape, values: moved.map { $0 ? 1 : 0 })
      return DiffusionLoss.partition(g, network: pgm, tokens: x0, groups: groups, t: t)
    case .mdlm(let dit):
      let (t, moved) = noise()
      var xt = x0
      for (i, m) in moved.enumerated() where m { xt.values[i] = Int32(dit.config.maskIndex) }
      return DiffusionLoss.mdlm(g, network: dit, clean: x0, noisy: xt, t: t)
    case .autoregressive(let dit):
      return DiffusionLoss.autoregressive(g, network: dit, tokens: x0)
    }
  }

  /// Validation NLL per token (nats) on clean rows, with the randomness of `rng`: partition networks
  /// count only group-1 tokens, weighted by the ELBO weight of t, without the /2 (SPEC §4), divided
  /// by all tokens; MDLM its ELBO; the evaluator its next-token NLL.
  public static func validationNLL(network: Network, x0: TokenTensor, rng: inout RandomStream) -> Double {
    let g = Graph(recording: false)
    switch network {
    case .partition(let pgm):
      let b = x0.shape[0], l = x0.shape[1]
      let t = TimeDraw.stratifiedPerRow(b, rng: &rng)
      let groups = Masking.groups(shape: x0.shape, times: t, rng: &rng)
      var weights = [Float](repeating: 0, count: b * l)
      for i in 0..<b {
        let w = Float(LogLinearSchedule.weight(t[i]))
        for j in 0..<l where groups[i, j] == 1 { weights[i * l + j] = w }
      }
      let logits = pgm.logits(g, tokens: x0, groups: groups)
      let ll = g.weightedLogLikelihood(logits, targets: x0.values, weights: weights, excluded: pgm.config.maskIndex)
      return Double(ll.total.value[flat: 0]) / Double(b * l)
    case .mdlm, .autoregressive:
      return Double(loss(g, network: network, x0: x0, rng: &rng).loss.value[flat: 0])
    }
  }

  /// The validation NLL per token of the first `rows` rows of `source`, in batches of `batchSize`,
  /// with randomness fixed by `seed` — the one definition pretraining, `pgm eval` and the report use.
  public static func validationNLL(network: Network, source: BatchSource, rows requested: Int, batchSize: Int,
                                   seed: UInt64) throws -> Double? {
    let rows = min(requested, source.rowCount)
    guard rows > 0 else { return nil }
    var rng = RandomStream(seed: seed).derive("validation")
    var total = 0.0, start = 0
    var buffer: [Int32] = []
    while start < rows {
      let n = min(batchSize, rows - start)
      try source.read(rows: Array(start..<(start + n)), into: &buffer)
      let x0 = TokenTensor(shape: [n, source.length], values: Array(buffer.prefix(n * source.length)))
      total += validationNLL(network: network, x0: x0, rng: &rng) * Double(n)
      start += n
    }
    return total / Double(rows)
  }
}
