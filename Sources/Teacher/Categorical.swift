import Engine
import Foundation

/// Categorical draws with the reference's conventions (SPEC §5): Gumbel-max (`GumbelMax`) in
/// float64 and nucleus (top-p) filtering of logits.
public enum Categorical {
  /// The reference's Gumbel-max draw, `argmax_i p_i / (1e-10 − log(u_i + 1e-10))` with u_i uniform
  /// float64: dividing by an Exp(1) variable is an exponential race, won by i with probability
  /// p_i / Σp (the 1e-10 terms only guard the logarithm). Zero entries take no uniform; ties go to
  /// the first index. Returns −1 when every entry is 0.
  public static func gumbelMax(probabilities p: [Double], rng: inout RandomStream) -> Int {
    GumbelMax.draw(count: p.count, rng: &rng) { p[$0] }
  }

  /// The indices nucleus filtering keeps, most probable first: the shortest prefix of the tokens
  /// sorted by probability whose cumulative mass exceeds `topP` (so at least one token), as the
  /// reference's `top_k_top_p_filtering`, which removes index i of the sorted order when the mass
  /// before it already exceeds p. −∞ logits have probability 0. `topP` ≥ 1 keeps every token.
  public static func nucleus(logits: [Float], topP: Double) -> [Int] {
    var filter = NucleusFilter(capacity: logits.count)
    let kept = logits.withUnsafeBufferPointer { filter.keep(logits: $0.baseAddress!, count: logits.count, topP: topP) }
    return kept.map { Int($0) }
  }
}

/// Scratch space for nucleus filtering of one row at a time.
///
/// Sorting all V logits per position would cost more than the network at GPT-2 sizes, so only the
/// candidates that can be in the nucleus are sorted: if the smallest kept probability q were at
/// most c = (1 − p)/(2V), every token from there on would have probability ≤ c, their total at
/// most V·c < 1 − p, yet the mass before q is ≤ p by minimality — a contradiction. So tokens with
/// probability ≤ c never belong to the nucleus, and the candidates are those above it.
struct NucleusFilter {
  private(set) var candidates: [Int32]

  init(capacity: Int) { candidates = [Int32](repeating: 0, count: capacity) }

  /// The kept indices (most probable first, ties by index) of `logits` [count].
  mutating func keep(logits x: UnsafePointer<Float>, count v: Int, topP: Double) -> ArraySlice<Int32> {
    var m = -Float.infinity
    for i in 0..<v where x[i] > m { m = x[i] }
    if m == -.infinity { return candidates[0..<0] }
    var sum = 0.0
    for i in 0..<v { sum += Double(expf(x[i] - m)) }
    // Candidates: probability exp(x − m)/sum > c  ⇔  x > m + log(c·sum).
    let c = topP >= 1 ? 0 : (1 - topP) / (2 * Double(v))
    let cut = c > 0 ? Float(Double(m) + Foundation.log(c * sum)) : -Float.infinity
    var n = 0
    for i in 0..<v where x[i] > cut && x[i] > -.infinity {
      candidates[n] = Int32(i)
      n += 1
    }
    candidates.withUnsafeMutableBufferPointer { buf in
      var head = UnsafeMutableBufferPointer(rebasing: buf[0..<n])
      head.sort { (a: Int32, b: Int32) -> Bool in
        let xa: Float = x[Int(a)], xb: Float = x[Int(b)]
        return xa > xb || (xa == xb && a < b)
      }
    }
    if topP >= 1 { return candidates[0..<n] }
    var cumulative = 0.0, k = 0
    while k < n {
      cumulative += Double(expf(x[Int(candidates[k])] - m)) / sum
      k += 1
      if cumulative > topP { break }
    }
    return candidates[0..<k]
  }
}

/// Turns rows of network logits into tokens, the shared convention of every sampler (SPEC §5):
/// optional temperature (logits / T, before anything else), optional nucleus filtering of the
/// logits, mask logit removed (−∞), log-softmax in float32, probabilities exponentiated and drawn
/// in float64 by Gumbel-max (or the argmax for a greedy step).
///
/// A class so that its scratch rows are allocated once per batch and reused for every position.
final class TokenDrawer {
  let vocabularySize: Int
  let maskIndex: Int
  let topP: Double
  /// 1 / temperature (1 = off).
  let inverseTemperature: Float
  /// Partition passes filter with the mask logit still present (the reference's order); MDLM
  /// filters after removing it (its reference adds −1e6 to the mask logit before anything else).
  let nucleusSeesMaskLogit: Bool
  private let row: UnsafeMutablePointer<Float>
  /// Scratch: the nucleus-filtered row, then the draw's float probabilities.
  private let filtered: UnsafeMutablePointer<Float>
  private var nucleus: NucleusFilter

  init(vocabularySize: Int, maskIndex: Int, topP: Double, temperature: Double = 1, nucleusSeesMaskLogit: Bool) {
    precondition(temperature > 0 && temperature.isFinite, "TokenDrawer: temperature \(temperature)")
    self.vocabularySize = vocabularySize
    self.maskIndex = maskIndex
    self.topP = topP
    inverseTemperature = Float(1 / temperature)
    self.nucleusSeesMaskLogit = nucleusSeesMaskLogit
    row = .allocate(capacity: vocabularySize)
    filtered = .allocate(capacity: vocabularySize)
    nucleus = NucleusFilter(capacity: topP < 1 ? vocabularySize : 0)
  }

  deinit {
    row.deallocate()
    filtered.deallocate()
  }

  /// The float32 log-probabilities the draw uses, for one row of logits (tests and tracing).
  func logProbabilities(_ logits: UnsafePointer<Float>) -> [Float] {
    prepare(logits)
    return Array(UnsafeBufferPointer(start: row, count: vocabularySize))
  }

  /// A token for row `row` of `logits` [rows, V], and its log-probability under the (filtered)
  /// distribution it was drawn from: the argmax when `greedy`, else a Gumbel-max draw.
  func drawWithLogProbability(_ logits: Tensor, row: Int, greedy: Bool,
                              rng: inout RandomStream) -> (token: Int32, logProbability: Float) {
    let token = logits.withUnsafeBufferPointer { draw($0.baseAddress! + row * vocabularySize, greedy: greedy, rng: &rng) }
    return (token, self.row[Int(token)])
  }

  /// A token for one row of logits [V]: the argmax when `greedy`, else a Gumbel-max draw.
  func draw(_ logits: UnsafePointer<Float>, greedy: Bool, rng: inout RandomStream) -> Int32 {
    prepare(logits)
    let v = vocabularySize
    if greedy {
      var best = 0
      for i in 1..<v where row[i] > row[best] { best = i }
      return Int32(best)
    }
    // The reference's float64 Gumbel-max race over exp(log p); entries that cannot win skip exp and
    // log (the same token and stream as the weight-closure draw).
    return Int32(GumbelMax.draw(logProbabilities: row, count: v, scratch: filtered, rng: &rng))
  }

  /// Leaves log p(x0) in `row`: temper, filter, remove the mask logit, log-softmax in float32.
  private func prepare(_ logits: UnsafePointer<Float>) {
    let v = vocabularySize
    row.update(from: logits, count: v)
    if inverseTemperature != 1 {
      let s = inverseTemperature
      for i in 0..<v { row[i] *= s }
    }
    if topP < 1 {
      if !nucleusSeesMaskLogit { row[maskIndex] = -.infinity }
      let kept = nucleus.keep(logits: row, count: v, topP: topP)
      // A nucleus holding nothing but the mask token would leave no token at all once the mask is
      // removed (the reference would produce NaNs); such a row is left unfiltered.
      if kept.contains(where: { Int($0) != maskIndex }) {
        filtered.update(repeating: -.infinity, count: v)
        for i in kept { filtered[Int(i)] = row[Int(i)] }
        row.update(from: filtered, count: v)
      }
    }
    MaskedLogSoftmax.logProbabilities(row, v, mask: maskIndex, normalization: .normalized, into: row)
  }
}
