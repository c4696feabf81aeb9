import Engine
import Networks

/// How a batch of clean sequences becomes a loss, for each kind of network (SPEC §4):
/// draws the times (antithetic over the batch), the partition groups or the MDLM mask, and
/// evaluates the ELBO; `ar` is next-token prediction (the evaluator).
public enum TrainingObjective {
  /// Sampling floor of training times: t = (1 − ε)·u + ε.
  public static let timeEpsilon = 1e-3

  /// Antithetic times for pretraining: one uniform per row, u_i = (r_i/n + i/n) mod 1.
  public static func antitheticTimes(_ n: Int, _ rng: inout RandomStream, epsilon: Double = timeEpsilon) -> [Double] {
    (0..<n).map { i in
      let r = rng.uniformDouble()
      let u = (r / Double(n) + Double(i) / Double(n)).truncatingRemainder(dividingBy: 1)
      return (1 - epsilon) * u + epsilon
    }
  }

  /// The training loss of `network` on clean rows `x0` [B, L].
  public static func loss(_ g: Graph, network: DiffusionNetwork, x0: TokenTensor, rng: inout RandomStream) -> LossResult {
    let b = x0.shape[0], l = x0.shape[1]
    switch network {
    case let pgm as PartitionDIT:
      let t = antitheticTimes(b, &rng)
      var groups = TokenTensor(shape: x0.shape, repeating: 0)
      for i in 0..<b {
        let p = LogLinearSchedule.maskProbability(t[i])
        for j in 0..<l where rng.uniformDouble() < p { groups[i, j] = 1 }
      }
      return DiffusionLoss.partition(g, network: pgm, tokens: x0, groups: groups, t: t)
    case let dit as DIT where dit.config.kind == .mdlm:
      let t = antitheticTimes(b, &rng)
      var xt = x0
      let mask = Int32(dit.config.maskIndex)
      for i in 0..<b {
        let p = LogLinearSchedule.maskProbability(t[i])
        for j in 0..<l where rng.uniformDouble() < p { xt[i, j] = mask }
      }
      return DiffusionLoss.mdlm(g, network: dit, clean: x0, noisy: xt, t: t)
    case let dit as DIT:
      return DiffusionLoss.autoregressive(g, network: dit, tokens: x0)
    default:
      preconditionFailure("no training objective for \(type(of: network))")
    }
  }

  /// Validation NLL per token (nats) on clean rows, with fixed randomness: partition networks count
  /// only group-1 tokens, weighted by the ELBO weight of t, without the /2 (SPEC §4), divided by all
  /// tokens; MDLM its ELBO; AR the next-token NLL.
  public static func validationNLL(network: DiffusionNetwork, x0: TokenTensor, rng: inout RandomStream) -> Double {
    let g = Graph(recording: false)
    let b = x0.shape[0], l = x0.shape[1]
    switch network {
    case let pgm as PartitionDIT:
      let t = antitheticTimes(b, &rng)
      var groups = TokenTensor(shape: x0.shape, repeating: 0)
      var weights = [Float](repeating: 0, count: b * l)
      for i in 0..<b {
        let p = LogLinearSchedule.maskProbability(t[i]), w = Float(LogLinearSchedule.weight(t[i]))
        for j in 0..<l where rng.uniformDouble() < p { groups[i, j] = 1; weights[i * l + j] = w }
      }
      let logits = pgm.logits(g, tokens: x0, groups: groups)
      let ll = g.weightedLogLikelihood(logits, targets: x0.values, weights: weights, excluded: pgm.config.maskIndex)
      return Double(ll.total.value[flat: 0]) / Double(b * l)
    default:
      return Double(loss(g, network: network, x0: x0, rng: &rng).loss.value[flat: 0])
    }
  }
}
