import Corpus
import Engine
import Foundation
import Networks
import Student
import Teacher

/// One row of an evaluation: a model sampled at one step count. JSON field names are shared by
/// `pgm eval --json` and the distillation report (`report.json` adds `round` and `model`).
public struct EvaluationRow: Codable, Sendable {
  public var model: String
  public var round: Int?
  public var steps: Int
  public var samples: Int
  /// Mean per-sample unigram entropy (natural log) of the sampled tokens after BOS.
  public var entropy: Double
  public var entropySE: Double
  /// Wall seconds per sampled sequence at the evaluation batch size (wall / samples).
  public var latencySeconds: Double
  public var tokensPerSecond: Double
  public var batch: Int
  // Synthetic data: exact quality under the source.
  public var nll: Double?
  public var nllSE: Double?
  public var forbiddenRate: Double?
  public var forbiddenRateSE: Double?
  public var bigramTV: Double?
  public var sourceEntropy: Double?
  // Text: perplexity of the samples under the project's autoregressive evaluator.
  public var genPPL: Double?
  public var genNLL: Double?
  public var genNLLSE: Double?

  enum CodingKeys: String, CodingKey {
    case model, round, steps, samples, entropy, entropySE = "entropy_se", latencySeconds = "latency_s"
    case tokensPerSecond = "tokens_per_s", batch, nll, nllSE = "nll_se", forbiddenRate = "forbidden_rate"
    case forbiddenRateSE = "forbidden_rate_se", bigramTV = "bigram_tv", sourceEntropy = "source_entropy"
    case genPPL = "gen_ppl", genNLL = "gen_nll", genNLLSE = "gen_nll_se"
  }
}

/// How sample quality is measured.
public enum QualityMeasure {
  /// Exact metrics under the synthetic source that generated the data.
  case markov(MarkovSource)
  /// Generative perplexity under an autoregressive evaluator trained on the same corpus; targets
  /// equal to `eos` and the last position are not scored (as the papers' evaluation).
  case evaluator(DIT, eos: Int32?)
  /// Only entropy and speed.
  case none
}

/// Samples a network at a step count and measures the samples.
public struct SampleEvaluation {
  public var measure: QualityMeasure
  public var samples: Int
  public var batch: Int
  public var schedule: PartitionSchedule
  public var bos: Int32

  public init(measure: QualityMeasure, samples: Int, batch: Int, schedule: PartitionSchedule = .uniform, bos: Int32) {
    self.measure = measure; self.samples = samples; self.batch = batch; self.schedule = schedule; self.bos = bos
  }

  /// Samples `network` in `steps` steps with a seed that depends only on (seed, steps), so every
  /// model of a report is evaluated on the same draws.
  public func evaluate(_ network: DiffusionNetwork, name: String, round: Int?, steps: Int, seed: UInt64,
                       progress: ((Int) -> Void)? = nil) throws -> EvaluationRow {
    let sampler = try makeSampler(for: network)
    var rng = RandomStream(seed: seed).derive("eval-steps-\(steps)")
    let options = SamplingOptions(bos: bos, batchSize: batch, schedule: schedule)
    let t0 = Clock.now()
    let run = try sampler.generate(count: samples, steps: steps, rng: &rng, options: options, progress: progress)
    let wall = Clock.now() - t0
    let l = network.config.length
    var row = EvaluationRow(model: name, round: round, steps: steps, samples: samples, entropy: 0, entropySE: 0,
                            latencySeconds: wall / Double(max(samples, 1)),
                            tokensPerSecond: Double(samples * l) / max(wall, 1e-9), batch: batch)
    let entropies = run.samples.map { SampleMetrics.unigramEntropy($0.dropFirst()) }
    (row.entropy, row.entropySE) = meanAndSE(entropies)
    switch measure {
    case .markov(let source):
      let m = try source.metrics(run.samples)
      row.nll = m.nll; row.nllSE = m.nllSE; row.forbiddenRate = m.forbiddenRate; row.forbiddenRateSE = m.forbiddenRateSE
      row.bigramTV = m.bigramTV; row.sourceEntropy = m.sourceEntropy
      row.entropy = m.entropy; row.entropySE = m.entropySE
    case .evaluator(let ar, let eos):
      let (nll, se) = generativeNLL(ar, run.samples, eos: eos)
      row.genNLL = nll; row.genNLLSE = se; row.genPPL = exp(nll)
    case .none: break
    }
    return row
  }

  /// Pooled next-token NLL of the samples under the evaluator, and the standard error of the
  /// per-sample means.
  func generativeNLL(_ ar: DIT, _ samples: [[Int32]], eos: Int32?) -> (Double, Double) {
    let l = ar.config.length
    var total = 0.0, count = 0
    var perSample: [Double] = []
    var start = 0
    while start < samples.count {
      let n = min(batch, samples.count - start)
      let x = TokenTensor(shape: [n, l], values: samples[start..<(start + n)].flatMap { $0 })
      let g = Graph(recording: false)
      let logits = ar.logits(g, tokens: x)
      var targets = [Int32](repeating: 0, count: n * l), weights = [Float](repeating: 0, count: n * l)
      for i in 0..<n {
        for j in 0..<(l - 1) where x[i, j + 1] != eos {
          targets[i * l + j] = x[i, j + 1]; weights[i * l + j] = 1
        }
      }
      let ll = g.weightedLogLikelihood(logits, targets: targets, weights: weights, excluded: ar.config.maskIndex)
      for i in 0..<n {
        var s = 0.0, c = 0
        for j in 0..<(l - 1) where weights[i * l + j] != 0 { s -= Double(ll.rowLogProbs[i * l + j]); c += 1 }
        total += s; count += c
        if c > 0 { perSample.append(s / Double(c)) }
      }
      start += n
    }
    return (total / Double(max(count, 1)), meanAndSE(perSample).1)
  }
}

func meanAndSE(_ xs: [Double]) -> (Double, Double) {
  guard !xs.isEmpty else { return (0, 0) }
  let m = xs.reduce(0, +) / Double(xs.count)
  guard xs.count > 1 else { return (m, 0) }
  let v = xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)
  return (m, (v / Double(xs.count)).squareRoot())
}
