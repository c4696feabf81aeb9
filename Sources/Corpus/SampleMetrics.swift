import Foundation

/// Exact quality measures of samples from a model trained on a Markov source (`MarkovSource.metrics`).
///
/// A row is `[BOS, x1, …, x(L-1)]`; positions 1 … L−1 are scored. "Transitions" are the n-grams
/// of order + 1 consecutive scored symbols (order 1: the L−2 bigrams (x(t-1), x(t)); order 2: the
/// L−3 triples). A token outside the symbols `0 ..< V` (a stray BOS, the mask, …) makes every
/// transition containing it forbidden.
///
/// Per-sample quantities come with standard errors: the standard deviation over samples (N − 1 in
/// the denominator) divided by √N; 0 when there is a single sample.
public struct SampleMetrics: Sendable, Codable, Equatable {
  /// Mean over samples of the per-token NLL (nats) under the source, counting only the positions
  /// the source gives a positive probability: x1 scored with the stationary symbol probability
  /// (order 2: x2 with the stationary pair's conditional), later symbols with the transition
  /// probability. Forbidden positions are left out here and counted in `forbiddenRate` instead,
  /// so this is "how likely are the allowed choices", comparable to `sourceNLL`. Samples with no
  /// allowed position are left out (see `nllSamples`).
  public var nll: Double
  public var nllSE: Double
  /// Mean over samples of the fraction of their transitions that the source forbids.
  public var forbiddenRate: Double
  public var forbiddenRateSE: Double
  /// Total variation ½ Σ |f − p| between the pooled empirical frequencies of the samples'
  /// transitions (order 1: bigrams, order 2: trigrams; transitions with foreign tokens form one
  /// extra cell where p = 0) and the source's stationary n-gram probabilities π(c)·P(x | c). No
  /// standard error (it is not a mean over samples); it is biased upwards for few samples.
  public var bigramTV: Double
  /// Mean over samples of the unigram entropy (nats) of each sample's L−1 symbols.
  public var entropy: Double
  public var entropySE: Double
  /// The same mean for the source's own samples (`MarkovSource.sampleEntropy`, from 2,048 rows).
  public var sourceEntropy: Double
  /// The exact expected `nll` of the source's own samples (`MarkovSource.expectedNLL`).
  public var sourceNLL: Double
  /// Diversity across samples: the entropy (nats) of the token at a position over the samples,
  /// averaged over positions 1 … L−1. A model that draws the same tokens at some positions in
  /// every sample (mode collapse) scores low here even when each sample's own unigram entropy
  /// (`entropy`) looks normal. Estimated from the samples' counts (biased low by about
  /// (V − 1)/(2N) nats for N samples); nil in rows written before it existed.
  public var positionEntropy: Double?
  /// The source's value: the entropy of its stationary symbol distribution (every position of a
  /// row is distributed so).
  public var sourcePositionEntropy: Double?
  /// Samples scored.
  public var samples: Int
  /// Samples with at least one allowed position (those averaged in `nll`).
  public var nllSamples: Int

  enum CodingKeys: String, CodingKey {
    case nll
    case nllSE = "nll_se"
    case forbiddenRate = "forbidden_rate"
    case forbiddenRateSE = "forbidden_rate_se"
    case bigramTV = "bigram_tv"
    case entropy
    case entropySE = "entropy_se"
    case sourceEntropy = "source_entropy"
    case sourceNLL = "source_nll"
    case positionEntropy = "position_entropy"
    case sourcePositionEntropy = "source_position_entropy"
    case samples
    case nllSamples = "nll_samples"
  }

  /// The unigram entropy (nats) of some tokens: −Σ f log f over their empirical frequencies.
  ///
  /// Summed in token order (a sorted copy, counted by runs), not in a dictionary's order, which
  /// changes from process to process: the result is bit-for-bit reproducible.
  public static func unigramEntropy<Tokens: Collection>(_ tokens: Tokens) -> Double where Tokens.Element == Int32 {
    guard !tokens.isEmpty else { return 0 }
    let sorted = tokens.sorted()
    let n = Double(sorted.count)
    var h = 0.0
    var runStart = 0
    for i in 1...sorted.count where i == sorted.count || sorted[i] != sorted[runStart] {
      let f = Double(i - runStart) / n
      h -= f * log(f)
      runStart = i
    }
    return h
  }
}

/// Mean and standard error of per-sample values.
public struct MeanAndError: Sendable, Equatable {
  public var mean = 0.0
  public var standardError = 0.0

  /// Standard deviation over the values (N − 1 in the denominator) divided by √N; 0 for one value.
  public init(_ values: [Double]) {
    guard !values.isEmpty else { return }
    let n = Double(values.count)
    mean = values.reduce(0, +) / n
    guard values.count > 1 else { return }
    let variance = values.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
    standardError = (variance / n).squareRoot()
  }
}

extension MarkovSource {
  /// Scores samples exactly (see `SampleMetrics` for what each number means).
  ///
  /// - Parameter samples: rows of equal length ≥ order + 2, each starting with BOS.
  /// - Throws: `CorpusError.invalidSample` for a row without BOS at position 0, a row too short
  ///   to hold a transition, or rows of different lengths; `.invalidArgument` for no samples.
  public func metrics(_ samples: [[Int32]]) throws -> SampleMetrics {
    guard let first = samples.first else { throw CorpusError.invalidArgument("no samples to score") }
    let length = first.count
    for (index, row) in samples.enumerated() {
      guard row.count == length else {
        throw CorpusError.invalidSample(index: index, reason: "\(row.count) tokens, but sample 0 has \(length)")
      }
      guard row.count >= order + 2 else {
        throw CorpusError.invalidSample(index: index, reason: "\(row.count) tokens hold no order-\(order) transition "
                                          + "(at least \(order + 2) are needed)")
      }
      guard row[0] == bos else {
        throw CorpusError.invalidSample(index: index, reason: "position 0 holds \(row[0]), not BOS (\(bos))")
      }
    }
    let v = symbols
    var nlls: [Double] = []
    var forbiddenRates: [Double] = []
    var entropies: [Double] = []
    // Pooled transition counts for the TV distance: key c·V + x for allowed-alphabet n-grams.
    var counts: [Int: Int] = [:]
    var foreignTransitions = 0
    let transitionsPerRow = length - 1 - order

    for row in samples {
      @inline(__always) func valid(_ t: Int) -> Bool { row[t] >= 0 && Int(row[t]) < v }
      var nll = 0.0
      var scored = 0
      // The start: x1 (and x2) from the stationary distribution.
      if valid(1) {
        let p1 = stationarySymbols[Int(row[1])]
        if p1 > 0 {
          nll -= log(p1)
          scored += 1
          if order == 2 && valid(2) {
            let pair = stationary[Int(row[1]) * v + Int(row[2])]
            if pair > 0 {
              nll -= log(pair / p1)
              scored += 1
            }
          }
        }
      }
      var forbidden = 0
      for t in (order + 1)..<length {
        let allValid = valid(t) && valid(t - 1) && (order == 1 || valid(t - 2))
        guard allValid else {
          forbidden += 1
          foreignTransitions += 1
          continue
        }
        let c = context(row, before: t)
        counts[c * v + Int(row[t]), default: 0] += 1
        let p = probability(of: Int(row[t]), context: c)
        if p > 0 {
          nll -= log(p)
          scored += 1
        } else {
          forbidden += 1
        }
      }
      if scored > 0 { nlls.append(nll / Double(scored)) }
      forbiddenRates.append(Double(forbidden) / Double(transitionsPerRow))
      entropies.append(SampleMetrics.unigramEntropy(row.dropFirst()))
    }

    // TV = ½ [Σ over observed cells |f − p| + (1 − Σ over observed cells p) + foreign mass]: the
    // source cells never observed contribute their p, which is the second term.
    let total = Double(transitionsPerRow * samples.count)
    var observedDifference = 0.0
    var observedSourceMass = 0.0
    for key in counts.keys.sorted() {  // a fixed order: sums reproducible to the last bit
      let count = counts[key]!
      let c = key / v
      let p = stationary[c] * probability(of: key % v, context: c)
      observedDifference += abs(Double(count) / total - p)
      observedSourceMass += p
    }
    let tv = 0.5 * (observedDifference + max(0, 1 - observedSourceMass) + Double(foreignTransitions) / total)

    // Across samples: the entropy of each position's tokens, averaged over positions.
    var positionEntropy = 0.0
    for t in 1..<length {
      positionEntropy += SampleMetrics.unigramEntropy(samples.map { $0[t] })
    }
    positionEntropy /= Double(length - 1)
    let sourcePositionEntropy = stationarySymbols.reduce(0.0) { $1 > 0 ? $0 - $1 * log($1) : $0 }
    let nll = MeanAndError(nlls)
    let forbidden = MeanAndError(forbiddenRates)
    let entropy = MeanAndError(entropies)
    let sourceEntropy = length == self.length ? sampleEntropy : resized(length: length).sampleEntropy
    return SampleMetrics(
      nll: nll.mean, nllSE: nll.standardError, forbiddenRate: forbidden.mean,
      forbiddenRateSE: forbidden.standardError, bigramTV: tv, entropy: entropy.mean,
      entropySE: entropy.standardError, sourceEntropy: sourceEntropy, sourceNLL: expectedNLL(length: length),
      positionEntropy: positionEntropy, sourcePositionEntropy: sourcePositionEntropy,
      samples: samples.count, nllSamples: nlls.count)
  }

  /// The same source with rows of another length (its sample entropy re-estimated).
  public func resized(length: Int) -> MarkovSource {
    MarkovSource(symbols: symbols, branching: branching, order: order, length: length, seed: seed, floor: floor,
                 successors: successors, probabilities: probabilities, stationary: stationary, sampleEntropy: nil)
  }
}
