import Corpus
import Foundation

/// The trade-off table of evaluation rows (markdown), the same in the report, `pgm eval` and the
/// exported student's model card: one row per (model, sampler, steps), columns by what the data
/// measures; synthetic data adds the diversity across samples (the entropy of each position over the
/// samples, averaged), which exposes a collapse that per-sample entropy does not.
public enum TradeoffTable {
  public static func markdown(_ rows: [EvaluationRow]) -> String {
    let synthetic = rows.contains { if case .markov = $0.quality { return true }; return false }
    var s: String
    if synthetic {
      s = "| model | sampler | steps | forbidden rate | bigram TV | NLL | entropy (source) | across samples (source) | s/sample | tokens/s |\n"
      s += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    } else {
      s = "| model | sampler | steps | gen. perplexity | entropy | s/sample | tokens/s |\n|---|---|---:|---:|---:|---:|---:|\n"
    }
    for r in rows {
      s += "| \(r.model) | \(r.sampler) | \(r.steps) | "
      switch r.quality {
      case .markov(let m):
        s += String(format: "%.4f ± %.4f | %.4f | %.3f ± %.3f | %.3f ± %.3f (%.3f) | ", m.forbiddenRate, m.forbiddenRateSE,
                    m.bigramTV, m.nll, m.nllSE, r.entropy, r.entropySE, m.sourceEntropy)
        s += m.positionEntropy.map { String(format: "%.3f (%.3f) | ", $0, m.sourcePositionEntropy ?? 0) } ?? "– | "
      case .text(let t):
        s += String(format: "%.2f ± %.2f | %.3f ± %.3f | ", t.genPPL, t.genPPLSE, r.entropy, r.entropySE)
      case .unmeasured:
        s += synthetic ? "– | – | – | " : "– | "
        s += String(format: "%.3f ± %.3f | ", r.entropy, r.entropySE) + (synthetic ? "– | " : "")
      }
      s += String(format: "%.4f | %.0f |\n", r.latencySeconds, r.tokensPerSecond)
    }
    return s
  }
}
