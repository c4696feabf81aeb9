import Engine
import MaskedDiffusion
import Networks

/// The pretraining objectives of SPEC §4, as losses on a graph.
public struct LossResult {
  /// The scalar to minimise, [1].
  public let loss: Var
  /// Per-token contributions (before the mean), [B·L], for reporting and parity checks.
  public let tokenLoss: [Float]
  public let logits: Var
}

public enum DiffusionLoss {
  /// Partition ELBO: one training-mode pass on the clean sequence; group-1 tokens are weighted
  /// with t, group-0 tokens with the complementary time 1 − t, each per-token term
  /// α'/(1−α)·log p(x0)/2 (mask logit removed), averaged over all tokens. Both groups learn.
  public static func partition(_ g: Graph, network: PartitionDIT, tokens: TokenTensor, groups: TokenTensor,
                               t: [Double]) -> LossResult {
    let b = tokens.shape[0], l = tokens.shape[1]
    precondition(t.count == b, "one time per row: \(t.count) for \(b) rows")
    let logits = network.logits(g, tokens: tokens, groups: groups)
    var weights = [Float](repeating: 0, count: b * l)
    for i in 0..<b {
      let w1 = Float(LogLinearSchedule.weight(t[i])), w0 = Float(LogLinearSchedule.weight(1 - t[i]))
      for j in 0..<l { weights[i * l + j] = (groups[i, j] == 1 ? w1 : w0) / 2 }
    }
    return finish(g, logits, targets: tokens.values, weights: weights, maskIndex: network.config.maskIndex)
  }

  /// MDLM ELBO ("subs"): one pass on the noisy sequence; clean positions are point masses on their
  /// own token (log p = 0: no loss, no gradient), masked positions contribute α'/(1−α)·log p(x0)
  /// with the mask logit removed; averaged over all tokens.
  public static func mdlm(_ g: Graph, network: DIT, clean: TokenTensor, noisy: TokenTensor, t: [Double]) -> LossResult {
    let b = clean.shape[0], l = clean.shape[1]
    precondition(noisy.shape == clean.shape && t.count == b, "mdlm loss: shapes \(clean.shape) / \(noisy.shape), \(t.count) times")
    let logits = network.logits(g, tokens: noisy)
    let mask = Int32(network.config.maskIndex)
    var weights = [Float](repeating: 0, count: b * l)
    for i in 0..<b {
      let w = Float(LogLinearSchedule.weight(t[i]))
      for j in 0..<l where noisy[i, j] == mask { weights[i * l + j] = w }
    }
    return finish(g, logits, targets: clean.values, weights: weights, maskIndex: network.config.maskIndex)
  }

  /// Autoregressive next-token loss (the evaluator): mean over positions 0..<L−1 of −log p(x_{i+1}).
  public static func autoregressive(_ g: Graph, network: DIT, tokens: TokenTensor) -> LossResult {
    let b = tokens.shape[0], l = tokens.shape[1]
    let logits = network.logits(g, tokens: tokens)
    var targets = [Int32](repeating: 0, count: b * l), weights = [Float](repeating: 0, count: b * l)
    for i in 0..<b {
      for j in 0..<(l - 1) { targets[i * l + j] = tokens[i, j + 1]; weights[i * l + j] = -1 }
    }
    let ll = g.weightedLogLikelihood(logits, targets: targets, weights: weights, excluded: network.config.maskIndex)
    let n = Float(b * (l - 1))
    return LossResult(loss: g.affine(ll.total, scale: 1 / n),
                      tokenLoss: zip(ll.rowLogProbs, weights).map { $0 * $1 }, logits: logits)
  }

  static func finish(_ g: Graph, _ logits: Var, targets: [Int32], weights: [Float], maskIndex: Int) -> LossResult {
    let ll = g.weightedLogLikelihood(logits, targets: targets, weights: weights, excluded: maskIndex)
    let loss = g.affine(ll.total, scale: 1 / Float(targets.count))
    let tokenLoss = zip(ll.rowLogProbs, weights).map { $0 * $1 }
    return LossResult(loss: loss, tokenLoss: tokenLoss, logits: logits)
  }
}
