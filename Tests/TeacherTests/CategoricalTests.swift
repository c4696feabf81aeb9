import Engine
import Foundation
@testable import Teacher
import Testing

/// Gumbel-max draws, nucleus filtering and the per-row draw used by every sampler.
@Suite struct CategoricalTests {
  @Test func gumbelMaxFrequenciesMatchTheCategorical() {
    let p: [Double] = [0.1, 0.2, 0.3, 0.4, 0]
    var rng = RandomStream(seed: 7)
    let draws = (0..<40_000).map { _ in Int32(Categorical.gumbelMax(probabilities: p, rng: &rng)) }
    let counts = Frequencies.counts(draws, size: p.count)
    #expect(counts[4] == 0, "a zero-probability entry is never drawn")
    #expect(Frequencies.worstDeviation(counts: counts, expected: p) < 4.5)
    // Unnormalised weights give the same distribution (an exponential race).
    let scaled = p.map { $0 * 37 }
    let again = (0..<40_000).map { _ in Int32(Categorical.gumbelMax(probabilities: scaled, rng: &rng)) }
    #expect(Frequencies.worstDeviation(counts: Frequencies.counts(again, size: p.count), expected: p) < 4.5)
  }

  /// The draw from log-probabilities that skips entries which cannot win picks exactly what the
  /// project's one race (`GumbelMax.draw(count:rng:weight:)` with w = exp(x)) picks, and leaves the
  /// stream where that leaves it: flat, peaked and very peaked rows, −∞ entries, log-probabilities
  /// far below the float exponential's range and below float64's (weight 0: no uniform).
  @Test func gumbelMaxSkippingEqualsTheDirectLoop() {
    var gen = RandomStream(seed: 21)
    let v = 2049
    var scratch = [Float](repeating: 0, count: v)
    for trial in 0..<300 {
      let spread = [0.01, 1, 4, 30, 200][trial % 5]
      var x = (0..<v).map { _ in Float(gen.normal() * spread) }
      if trial % 3 == 0 { for i in stride(from: trial % 7, to: v, by: 5) { x[i] = -.infinity } }
      let m = Double(x.max()!)
      let lse = Float(m + log(x.reduce(0.0) { $0 + exp(Double($1) - m) }))
      x = x.map { $0 - lse }
      if trial % 4 == 1 { for i in stride(from: trial % 11, to: v, by: 97) { x[i] = [-744, -746, -1e4][i % 3] } }
      var a = RandomStream(seed: UInt64(trial)), b = a
      let fast = x.withUnsafeBufferPointer { xp in
        scratch.withUnsafeMutableBufferPointer { GumbelMax.draw(logProbabilities: xp.baseAddress!, count: v, scratch: $0.baseAddress!, rng: &a) }
      }
      let direct = GumbelMax.draw(count: v, rng: &b) { (i: Int) -> Double in x[i] > -.infinity ? exp(Double(x[i])) : 0 }
      #expect(fast == direct, "trial \(trial)")
      #expect(a == b, "the stream advances by one uniform per entry of positive weight")
    }
  }

  @Test func gumbelMaxIsReproducible() {
    let p: [Double] = [0.25, 0.25, 0.5]
    var a = RandomStream(seed: 3), b = RandomStream(seed: 3)
    let x = (0..<100).map { _ in Categorical.gumbelMax(probabilities: p, rng: &a) }
    let y = (0..<100).map { _ in Categorical.gumbelMax(probabilities: p, rng: &b) }
    #expect(x == y)
    #expect(Set(x).count == 3)
  }

  /// The kept set is the shortest prefix of the sorted probabilities whose mass exceeds p.
  @Test func nucleusKeepsTheSmallestPrefixReachingP() {
    let probabilities: [Double] = [0.06, 0.4, 0.1, 0.25, 0.04, 0.15]  // sorted: 1, 3, 5, 2, 0, 4
    let logits = probabilities.map { Float(log($0)) + 2 }  // a shift changes nothing
    #expect(Categorical.nucleus(logits: logits, topP: 0.3) == [1])
    #expect(Categorical.nucleus(logits: logits, topP: 0.5) == [1, 3])
    #expect(Categorical.nucleus(logits: logits, topP: 0.7) == [1, 3, 5])
    #expect(Categorical.nucleus(logits: logits, topP: 0.85) == [1, 3, 5, 2])
    #expect(Categorical.nucleus(logits: logits, topP: 0.95) == [1, 3, 5, 2, 0])
    #expect(Categorical.nucleus(logits: logits, topP: 1) == [1, 3, 5, 2, 0, 4])
    // −∞ logits have no mass and are never kept.
    var masked = logits
    masked[1] = -.infinity
    #expect(Categorical.nucleus(logits: masked, topP: 0.3) == [3])  // 0.25 / 0.6 > 0.3
    #expect(Categorical.nucleus(logits: masked, topP: 0.5) == [3, 5])
  }

  /// Against a brute-force sort on random rows of a large vocabulary (the candidate pruning must
  /// never drop a token of the nucleus).
  @Test func nucleusMatchesBruteForce() {
    var rng = RandomStream(seed: 11)
    for trial in 0..<40 {
      let v = 500
      let spread = 1 + Double(trial % 5) * 2
      let logits = (0..<v).map { _ in Float(rng.normal() * spread) }
      let p = [0.1, 0.5, 0.9, 0.99, 0.999][trial % 5]
      let m = Double(logits.max()!)
      let z = logits.reduce(0.0) { $0 + exp(Double($1) - m) }
      let order = (0..<v).sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
      var cumulative = 0.0, expected: [Int] = []
      for i in order {
        expected.append(i)
        cumulative += exp(Double(logits[i]) - m) / z
        if cumulative > p { break }
      }
      #expect(Categorical.nucleus(logits: logits, topP: p) == expected, "trial \(trial), p = \(p)")
    }
  }

  @Test func drawerRemovesTheMaskAndMatchesTheSoftmax() {
    let v = 6, mask = 5
    let logits: [Float] = [0.0, 1.0, -1.0, 0.5, 2.0, 9.0]  // the mask logit dominates: must vanish
    let drawer = TokenDrawer(vocabularySize: v, maskIndex: mask, topP: 1, nucleusSeesMaskLogit: true)
    let z = logits[0..<mask].reduce(0.0) { $0 + exp(Double($1)) }
    let p = logits.enumerated().map { $0.offset == mask ? 0 : exp(Double($0.element)) / z }
    let logp = logits.withUnsafeBufferPointer { drawer.logProbabilities($0.baseAddress!) }
    for i in 0..<mask { #expect(abs(Double(logp[i]) - log(p[i])) < 1e-5) }
    #expect(logp[mask] == -.infinity)
    var rng = RandomStream(seed: 5)
    let draws = (0..<30_000).map { _ in logits.withUnsafeBufferPointer { drawer.draw($0.baseAddress!, greedy: false, rng: &rng) } }
    #expect(Frequencies.worstDeviation(counts: Frequencies.counts(draws, size: v), expected: p) < 4.5)
    // Greedy: the argmax of the real tokens, never the (larger) mask logit.
    #expect(logits.withUnsafeBufferPointer { drawer.draw($0.baseAddress!, greedy: true, rng: &rng) } == 4)
  }

  /// Partition passes filter with the mask logit present, MDLM after removing it.
  @Test func nucleusWithAndWithoutTheMaskLogit() {
    let v = 5, mask = 4
    // Probabilities with the mask: [0.1, 0.3, 0.1, 0.1, 0.4]; without: [1/6, 1/2, 1/6, 1/6].
    let logits = [0.1, 0.3, 0.1, 0.1, 0.4].map { Float(log($0)) }
    var rng = RandomStream(seed: 9)
    func frequencies(_ seesMask: Bool) -> [Int] {
      let drawer = TokenDrawer(vocabularySize: v, maskIndex: mask, topP: 0.6, nucleusSeesMaskLogit: seesMask)
      let draws = (0..<20_000).map { _ in logits.withUnsafeBufferPointer { drawer.draw($0.baseAddress!, greedy: false, rng: &rng) } }
      return Frequencies.counts(draws, size: v)
    }
    // With the mask: nucleus {mask, 1} (0.7 > 0.6); the mask removed leaves token 1 alone.
    #expect(frequencies(true) == [0, 20_000, 0, 0, 0])
    // Without: 1 (0.5), then one of the 1/6 ties (index 0 first) reaches 0.667 > 0.6.
    let counts = frequencies(false)
    #expect(counts[2] == 0 && counts[3] == 0 && counts[4] == 0)
    #expect(Frequencies.worstDeviation(counts: counts, expected: [0.25, 0.75, 0, 0, 0]) < 4.5)
  }

  /// A nucleus that holds only the mask token would leave nothing once the mask is removed (the
  /// reference produces NaNs); the row is then drawn unfiltered.
  @Test func nucleusOfOnlyTheMaskFallsBackToTheFullRow() {
    let logits = [0.01, 0.02, 0.02, 0.95].map { Float(log($0)) }
    #expect(Categorical.nucleus(logits: logits, topP: 0.9) == [3])
    let drawer = TokenDrawer(vocabularySize: 4, maskIndex: 3, topP: 0.9, nucleusSeesMaskLogit: true)
    var rng = RandomStream(seed: 2)
    let draws = (0..<20_000).map { _ in logits.withUnsafeBufferPointer { drawer.draw($0.baseAddress!, greedy: false, rng: &rng) } }
    #expect(Frequencies.worstDeviation(counts: Frequencies.counts(draws, size: 4), expected: [0.2, 0.4, 0.4, 0]) < 4.5)
  }

  /// Temperature divides the logits before anything else: a hand-checkable case (log-probabilities
  /// log softmax(z / T) over the real tokens), a nucleus taken on the tempered distribution, and
  /// the greedy tail unchanged.
  @Test func temperatureTempersBeforeTheNucleusAndKeepsTheArgmax() {
    let v = 4, mask = 3
    let logits: [Float] = [0, Float(log(2.0)), Float(log(4.0)), 5]  // p ∝ 1, 2, 4 over the real tokens
    let drawer = TokenDrawer(vocabularySize: v, maskIndex: mask, topP: 1, temperature: 0.5, nucleusSeesMaskLogit: false)
    // T = 0.5 squares the weights: 1, 4, 16 → 1/21, 4/21, 16/21.
    let logp = logits.withUnsafeBufferPointer { drawer.logProbabilities($0.baseAddress!) }
    for (i, w) in [1.0, 4, 16].enumerated() { #expect(abs(Double(logp[i]) - log(w / 21)) < 1e-5, "token \(i)") }
    #expect(logp[mask] == -.infinity)
    var rng = RandomStream(seed: 3)
    #expect(logits.withUnsafeBufferPointer { drawer.draw($0.baseAddress!, greedy: true, rng: &rng) } == 2)
    // T = 2 takes square roots: 1, √2, 2. Nucleus 0.5 keeps {2} untempered (4/7 > 0.5) but
    // {2, 1} at T = 2 (2/4.414 = 0.453 ≤ 0.5, then 0.774).
    let hot = TokenDrawer(vocabularySize: v, maskIndex: mask, topP: 0.5, temperature: 2, nucleusSeesMaskLogit: false)
    let draws = (0..<20_000).map { _ in logits.withUnsafeBufferPointer { hot.draw($0.baseAddress!, greedy: false, rng: &rng) } }
    let z = 2 + 2.0.squareRoot()
    #expect(Frequencies.worstDeviation(counts: Frequencies.counts(draws, size: v),
                                       expected: [0, 2.0.squareRoot() / z, 2 / z, 0]) < 4.5)
  }

  /// A variant without a temperature encodes as before the option existed (cached evaluation rows
  /// hash it), and one with a temperature names it and round-trips.
  @Test func temperatureInVariantsIsBackwardCompatible() throws {
    let plain = try String(decoding: JSONEncoder().encode(SamplerVariant(greedyTail: true)), as: UTF8.self)
    #expect(!plain.contains("temperature"))
    let tempered = SamplerVariant(greedyTail: true, temperature: 0.9)
    #expect(tempered.description == "temperature 0.9+greedy-tail")
    let back = try JSONDecoder().decode(SamplerVariant.self, from: JSONEncoder().encode(tempered))
    #expect(back == tempered)
    let old = try JSONDecoder().decode(SamplerVariant.self, from: Data(#"{"sampler":"uniform","order":"random","top_p":1,"greedy_tail":false,"noise":0}"#.utf8))
    #expect(old == .plain)
    #expect(throws: SamplingError.invalidTemperature(0)) {
      try SamplingOptions(bos: 0, temperature: 0).validate(steps: 1)
    }
  }
}
