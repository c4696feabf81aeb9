import Corpus
import Engine
import Foundation
import Networks
import Student
import Teacher

/// One row of an evaluation: a model sampled at one step count. JSON field names are shared by
/// `pgm eval --json` and the distillation report.
public struct EvaluationRow: Codable, Sendable {
  public var model: String
  /// 0 = the teacher, r = the student of SDTT round r, nil = a model outside a run.
  public var round: Int?
  public var steps: Int
  /// The sampler settings the samples were drawn with.
  public var sampler: SamplerVariant
  public var samples: Int
  /// Mean per-sample unigram entropy (natural log) of the sampled tokens after BOS.
  public var entropy: Double
  public var entropySE: Double
  /// Wall seconds per sampled sequence at the evaluation batch size (wall / samples).
  public var latencySeconds: Double
  public var tokensPerSecond: Double
  public var batch: Int
  /// How good the samples are, by the measure the data allows.
  public var quality: SampleQuality

  enum CodingKeys: String, CodingKey {
    case model, round, steps, sampler, samples, entropy, entropySE = "entropy_se", latencySeconds = "latency_s"
    case tokensPerSecond = "tokens_per_s", batch, quality
  }

  /// The headline quality number (lower is better) and its standard error, if the data has one.
  public var headline: (value: Double, se: Double)? {
    switch quality {
    case .markov(let m): return (m.forbiddenRate, m.forbiddenRateSE)
    case .text(let t): return (t.genPPL, t.genPPLSE)
    case .unmeasured: return nil
    }
  }
}

/// Sample quality by data kind.
public enum SampleQuality: Codable, Sendable {
  /// Synthetic data: exact metrics under the Markov source that generated it.
  case markov(SampleMetrics)
  /// Text: the samples under the project's autoregressive evaluator.
  case text(GenerativePerplexity)
  /// Text without an evaluator: only entropy and speed.
  case unmeasured
}

/// Perplexity of samples under an autoregressive evaluator trained on the same corpus (the
/// papers' "Gen PPL"): the pooled next-token NLL, and the standard error of per-sample NLLs.
public struct GenerativePerplexity: Codable, Sendable, Equatable {
  public var genNLL: Double
  public var genNLLSE: Double
  public var genPPL: Double { exp(genNLL) }
  /// The delta-method standard error of the perplexity: PPL · SE(NLL).
  public var genPPLSE: Double { genPPL * genNLLSE }
  enum CodingKeys: String, CodingKey { case genNLL = "gen_nll", genNLLSE = "gen_nll_se", genPPL = "gen_ppl" }
  public init(genNLL: Double, genNLLSE: Double) { self.genNLL = genNLL; self.genNLLSE = genNLLSE }
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    genNLL = try c.decode(Double.self, forKey: .genNLL)
    genNLLSE = try c.decode(Double.self, forKey: .genNLLSE)
  }
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(genNLL, forKey: .genNLL)
    try c.encode(genNLLSE, forKey: .genNLLSE)
    try c.encode(genPPL, forKey: .genPPL)
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

  /// What the headline number of this measure is called.
  public var metricName: String {
    switch self {
    case .markov: return "forbidden-transition rate"
    case .evaluator: return "generative perplexity"
    case .none: return "entropy"
    }
  }
}

/// Samples a network at a step count and measures the samples.
public struct SampleEvaluation {
  public var measure: QualityMeasure
  public var samples: Int
  public var batch: Int
  public var bos: Int32

  public init(measure: QualityMeasure, samples: Int, batch: Int, bos: Int32) {
    self.measure = measure; self.samples = samples; self.batch = batch; self.bos = bos
  }

  /// Samples `network` in `steps` steps with `variant`, with a seed that depends only on (seed,
  /// steps), so every model of a report is evaluated on the same draws.
  public func evaluate(_ network: Denoiser, name: String, round: Int?, steps: Int, variant: SamplerVariant = .plain,
                       seed: UInt64, progress: ((Int) -> Void)? = nil) throws -> EvaluationRow {
    let sampler = try makeSampler(for: network)
    var rng = RandomStream(seed: seed).derive("eval-steps-\(steps)")
    let options = SamplingOptions(bos: bos, batchSize: batch, variant: variant)
    let t0 = Clock.now()
    let run = try sampler.generate(count: samples, steps: steps, rng: &rng, options: options, progress: progress)
    let wall = Clock.now() - t0
    let l = network.config.length
    let entropy = MeanAndError(run.samples.map { SampleMetrics.unigramEntropy($0.dropFirst()) })
    var row = EvaluationRow(model: name, round: round, steps: steps, sampler: variant, samples: samples, entropy: entropy.mean,
                            entropySE: entropy.standardError, latencySeconds: wall / Double(max(samples, 1)),
                            tokensPerSecond: Double(samples * l) / max(wall, 1e-9), batch: batch, quality: .unmeasured)
    switch measure {
    case .markov(let source):
      let m = try source.metrics(run.samples)
      row.quality = .markov(m)
      (row.entropy, row.entropySE) = (m.entropy, m.entropySE)
    case .evaluator(let ar, let eos):
      row.quality = .text(generativeNLL(ar, run.samples, eos: eos))
    case .none: break
    }
    return row
  }

  /// Pooled next-token NLL of the samples under the evaluator, and the standard error of the
  /// per-sample means.
  func generativeNLL(_ ar: DIT, _ samples: [[Int32]], eos: Int32?) -> GenerativePerplexity {
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
    return GenerativePerplexity(genNLL: total / Double(max(count, 1)), genNLLSE: MeanAndError(perSample).standardError)
  }
}
