import Engine
import Foundation
import Networks
@testable import Teacher
import Testing

@Suite struct PartitionSamplerTests {
  /// Runs one batch and records every pass.
  static func trace(_ net: PartitionDIT, prefixes: [[Int32]], steps: Int, options: SamplingOptions,
                    seed: UInt64, freezesConditioning: Bool = true) -> (BatchOutcome, [PartitionSampler.Pass]) {
    var passes: [PartitionSampler.Pass] = []
    var streams = prefixes.indices.map { RandomStream(seed: seed &+ UInt64($0) &* 7919) }
    var sampler = PartitionSampler(network: net)
    sampler.freezesConditioning = freezesConditioning
    let outcome = sampler.sampleBatch(prefixes: prefixes, streams: &streams, steps: steps, options: options) {
      passes.append($0)
    }
    return (outcome, passes)
  }

  /// Every packed inference pass gives the logits of the naive computation: a training-mode pass
  /// over the whole sequence with group 0 = the clean set so far and group 1 = everything else
  /// (not yet revealed), read at the queried positions. Rows of different prefix lengths and the
  /// non-uniform schedule exercise right padding of clean sets and queries.
  @Test(arguments: [(ModelConfig.PreQueryMode.learnFreqs, PartitionSchedule.uniform),
                    (.learnFreqs, .nonUniform), (.learnFreqsMean, .uniform), (.learnFreqsLogsumexp, .nonUniform)])
  func packedPassesEqualTrainingMode(_ mode: ModelConfig.PreQueryMode, _ schedule: PartitionSchedule) {
    let net = TinyNetworks.partition(length: 16, mode: mode, seed: 3)
    let (l, v) = (16, 12)
    let prefixes: [[Int32]] = [[0], [0, 4, 7], [0, 9]]
    let options = SamplingOptions(bos: 0, schedule: schedule)
    let (_, passes) = Self.trace(net, prefixes: prefixes, steps: 4, options: options, seed: 1)
    #expect(passes.count >= 2)
    var sawPadding = false
    for pass in passes {
      let b = prefixes.count, lc = pass.packed.tokens.shape[1], lq = pass.packed.queryPositions.shape[1]
      sawPadding = sawPadding || pass.packed.lengths.contains { $0 < lc } || pass.counts.contains { $0 < lq }
      var tokens = TokenTensor(shape: [b, l], repeating: 1), groups = TokenTensor(shape: [b, l], repeating: 1)
      for r in 0..<b {
        for j in 0..<pass.packed.lengths[r] {
          let p = Int(pass.packed.positions[r, j])
          tokens[r, p] = pass.packed.tokens[r, j]
          groups[r, p] = 0
        }
      }
      let train = net.logits(Graph(recording: false), tokens: tokens, groups: groups).value.toArray()
      let packed = pass.logits.toArray()
      let scale = train.map { abs($0) }.max()!
      var worst: Float = 0
      for r in 0..<b {
        for j in 0..<pass.counts[r] {
          let p = Int(pass.packed.queryPositions[r, j])
          #expect(groups[r, p] == 1, "a query position is never clean")
          for c in 0..<v { worst = max(worst, abs(train[(r * l + p) * v + c] - packed[(r * lq + j) * v + c])) }
        }
      }
      #expect(worst / scale < 1e-5, "step \(pass.step): relative difference \(worst / scale)")
    }
    #expect(sawPadding, "the case must exercise padding")
  }

  @Test func uniformRevealsLOverSPerStep() throws {
    let net = TinyNetworks.partition(length: 16)
    for steps in [1, 2, 4, 8, 16] {
      let options = SamplingOptions(bos: TinyNetworks.bos, batchSize: 2)
      let (outcome, passes) = Self.trace(net, prefixes: [[0], [0]], steps: steps, options: options, seed: 5)
      let n = 16 / steps
      // Every step reveals n positions, the last n − 1 (no pass at all when that is 0).
      let expected = (0..<steps).map { $0 == steps - 1 ? n - 1 : n }.filter { $0 > 0 }
      #expect(passes.map { $0.counts[0] } == expected, "S = \(steps)")
      #expect(passes.allSatisfy { $0.counts[0] == $0.counts[1] })
      #expect(outcome.passes == expected.count)
      // Clean sets grow by what was revealed; queries never touch position 0 and cover 1..<L once.
      var seen: [Int32] = []
      for (i, pass) in passes.enumerated() {
        #expect(pass.packed.lengths[0] == 1 + expected[..<i].reduce(0, +))
        #expect(pass.packed.lengths.allSatisfy { $0 == pass.packed.tokens.shape[1] }, "no padding when counts are equal")
        seen += (0..<pass.counts[0]).map { pass.packed.queryPositions[0, $0] }
      }
      #expect(seen.sorted() == (1..<16).map(Int32.init))
      for sample in outcome.samples {
        #expect(sample.count == 16 && sample[0] == TinyNetworks.bos)
        #expect(sample.allSatisfy { $0 >= 0 && $0 < 11 }, "every token is in the vocabulary minus the mask")
      }
    }
  }

  @Test func samplesAreReproducibleAndIndependentOfTheBatch() throws {
    let sampler = PartitionSampler(network: TinyNetworks.partition(length: 16))
    func run(batch: Int, seed: UInt64, schedule: PartitionSchedule = .uniform) throws -> [[Int32]] {
      var rng = RandomStream(seed: seed)
      return try sampler.sample(count: 5, steps: 4, rng: &rng,
                                options: SamplingOptions(bos: 0, batchSize: batch, schedule: schedule))
    }
    let a = try run(batch: 2, seed: 1)
    #expect(try run(batch: 2, seed: 1) == a)
    #expect(try run(batch: 2, seed: 2) != a)
    #expect(try run(batch: 1, seed: 1) == a, "each row has its own stream")
    #expect(try run(batch: 5, seed: 3, schedule: .nonUniform) == (try run(batch: 1, seed: 3, schedule: .nonUniform)))
    // Continuing a stream: two calls of 2 equal one call of 4.
    var one = RandomStream(seed: 4), two = RandomStream(seed: 4)
    let options = SamplingOptions(bos: 0, batchSize: 3)
    let whole = try sampler.sample(count: 4, steps: 4, rng: &one, options: options)
    let parts = try sampler.sample(count: 2, steps: 4, rng: &two, options: options)
      + (try sampler.sample(count: 2, steps: 4, rng: &two, options: options))
    #expect(whole == parts)
  }

  /// Counts per step follow Binomial(L, dt): checked on the first half of the steps, where the
  /// cap (what a row has left) practically never binds; leftovers come in one final pass and
  /// steps where every row draws 0 run no pass.
  @Test func nonUniformCountsFollowTheBinomial() {
    let l = 32, steps = 32
    let net = TinyNetworks.partition(length: l, blocks: 1)
    let p = RevealCounts.nonUniformProbability(steps: steps)
    #expect(abs(p - (1 - 1e-5) / Double(steps)) < 1e-12, "the reveal probability at t = 1 equals dt")
    var early: [Int] = [], leftoverPasses = 0
    for seed in 0..<3 {
      let prefixes = [[Int32]](repeating: [0], count: 16)
      let (outcome, passes) = Self.trace(net, prefixes: prefixes, steps: steps,
                                         options: SamplingOptions(bos: 0, batchSize: 16, schedule: .nonUniform),
                                         seed: UInt64(seed))
      #expect(outcome.passes == passes.count)
      var byStep = [[Int]](repeating: [Int](repeating: 0, count: 16), count: steps + 1)
      for pass in passes { byStep[pass.step] = pass.counts }
      for i in 0..<(steps / 2) { early += byStep[i] }
      #expect(passes.allSatisfy { $0.counts.contains { $0 > 0 } }, "a pass always reveals something")
      if passes.last?.step == steps { leftoverPasses += 1 }
      // Every row ends complete: each position revealed once.
      for r in 0..<16 {
        let revealed = passes.flatMap { pass in (0..<pass.counts[r]).map { pass.packed.queryPositions[r, $0] } }
        #expect(revealed.sorted() == (1..<Int32(l)).map { $0 })
        #expect(byStep.map { $0[r] }.reduce(0, +) == l - 1)
      }
    }
    let n = Double(early.count)
    let mean = Double(early.reduce(0, +)) / n
    let variance = early.reduce(0.0) { $0 + pow(Double($1) - mean, 2) } / (n - 1)
    let expectedMean = Double(l) * p, expectedVariance = Double(l) * p * (1 - p)
    #expect(abs(mean - expectedMean) < 4 * (expectedVariance / n).squareRoot(), "mean \(mean) vs \(expectedMean)")
    #expect(abs(variance / expectedVariance - 1) < 0.25, "variance \(variance) vs \(expectedVariance)")
    #expect(leftoverPasses > 0, "Σ of 32 draws of mean 1 exceeds 31 often enough to leave nothing, but not always")
    // With a single row most steps draw 0 and are skipped.
    let (_, single) = Self.trace(net, prefixes: [[0]], steps: 64,
                                 options: SamplingOptions(bos: 0, schedule: .nonUniform), seed: 9)
    #expect(single.count < 40, "\(single.count) passes for 64 steps of mean 0.5 tokens")
  }

  /// With fixed logits p(x0) is a known categorical: the token frequencies match it, for both
  /// schedules, and with nucleus filtering match the renormalised nucleus (computed with the mask
  /// logit present, as the reference filters partition logits).
  @Test(arguments: [(PartitionSchedule.uniform, 1.0), (.nonUniform, 1.0), (.uniform, 0.7)])
  func frequenciesMatchTheNetworkCategorical(_ schedule: PartitionSchedule, _ topP: Double) throws {
    let v = 12, mask = 11
    let net = TinyNetworks.partition(length: 16, vocab: v, blocks: 1)
    var weights = (0..<v).map { Double($0 + 1) }
    weights[mask] = 8  // the mask logit is large but must never be drawn
    let logits = weights.map { Float(log($0)) }
    TinyNetworks.fixLogits(net.parameters, logits)
    let kept = Set(Categorical.nucleus(logits: logits, topP: topP).filter { $0 != mask })
    let z = kept.reduce(0.0) { $0 + weights[$1] }
    let expected = (0..<v).map { kept.contains($0) ? weights[$0] / z : 0 }
    var rng = RandomStream(seed: 21)
    // One step (uniform) reveals the whole sequence in one pass: the cheapest way to many draws.
    let samples = try PartitionSampler(network: net).sample(
      count: 256, steps: schedule == .uniform ? 1 : 4, rng: &rng, options: SamplingOptions(bos: 0, batchSize: 32, topP: topP, schedule: schedule))
    let counts = Frequencies.counts(samples.flatMap { $0.dropFirst() }, size: v)
    #expect(counts[mask] == 0)
    #expect(Frequencies.worstDeviation(counts: counts, expected: expected) < 4.5, "\(counts) vs \(expected)")
  }

  @Test func prefixTokensStartCleanAndStay() throws {
    let net = TinyNetworks.partition(length: 16)
    let prefix: [Int32] = [0, 3, 3, 10, 5]
    for schedule in PartitionSchedule.allCases {
      let (outcome, passes) = Self.trace(net, prefixes: [prefix, [0, 7]], steps: 4,
                                         options: SamplingOptions(bos: 0, schedule: schedule), seed: 2)
      #expect(Array(outcome.samples[0].prefix(5)) == prefix && Array(outcome.samples[1].prefix(2)) == [0, 7])
      let first = try #require(passes.first)
      #expect((0..<5).map { first.packed.tokens[0, $0] } == prefix)
      #expect((0..<5).map { first.packed.positions[0, $0] } == [0, 1, 2, 3, 4])
      for pass in passes {
        #expect((0..<pass.counts[0]).allSatisfy { pass.packed.queryPositions[0, $0] >= 5 })
        #expect((0..<pass.counts[1]).allSatisfy { pass.packed.queryPositions[1, $0] >= 2 })
      }
      // Uniform spreads the 11 and 14 unknown positions evenly over the 4 steps.
      if schedule == .uniform {
        #expect(passes.map { $0.counts[0] } == [3, 3, 3, 2])
        #expect(passes.map { $0.counts[1] } == [4, 3, 4, 3])
      }
    }
    // The public per-row API: each row keeps its own prefix.
    var rng = RandomStream(seed: 3)
    let rows = try PartitionSampler(network: net).generate(prefixes: [[0, 1], [0], [0, 2, 3]], steps: 4, rng: &rng,
                                                           options: SamplingOptions(bos: 0, batchSize: 3)).samples
    #expect(rows[0].prefix(2) == [0, 1] && rows[1][0] == 0 && rows[2].prefix(3) == [0, 2, 3])
    #expect(rows.allSatisfy { $0.count == 16 && !$0.contains(11) })
    // A prefix filling the whole sequence leaves nothing to sample.
    let full = (0..<16).map { Int32($0 % 11) }
    let (outcome, passes) = Self.trace(net, prefixes: [full], steps: 4, options: SamplingOptions(bos: 0), seed: 1)
    #expect(passes.isEmpty && outcome.samples == [full])
  }

  /// The greedy tail: each row's final reveal takes the argmax, earlier reveals are draws.
  @Test func greedyTailTakesTheArgmax() throws {
    let v = 12
    let net = TinyNetworks.partition(length: 16, vocab: v)
    // Nearly flat: draws spread over all tokens, the argmax (token 6) is only slightly ahead.
    let logits = (0..<v).map { Float($0 == 6 ? 0.2 : 0) }
    TinyNetworks.fixLogits(net.parameters, logits)
    for schedule in PartitionSchedule.allCases {
      let (outcome, passes) = Self.trace(net, prefixes: [[Int32]](repeating: [0], count: 8), steps: 4,
                                         options: SamplingOptions(bos: 0, greedyTail: true, schedule: schedule), seed: 4)
      var finalTokens: [Int32] = [], earlierTokens: [Int32] = []
      for r in 0..<8 {
        let last = try #require(passes.last { $0.counts[r] > 0 })
        for pass in passes where pass.counts[r] > 0 {
          let tokens = (0..<pass.counts[r]).map { outcome.samples[r][Int(pass.packed.queryPositions[r, $0])] }
          if pass.step == last.step { finalTokens += tokens } else { earlierTokens += tokens }
        }
      }
      #expect(!finalTokens.isEmpty && finalTokens.allSatisfy { $0 == 6 })
      #expect(Set(earlierTokens).count > 3, "earlier reveals are draws")
    }
  }

  @Test func impossibleRequestsAreRefused() {
    let sampler = PartitionSampler(network: TinyNetworks.partition(length: 16, vocab: 12))
    var rng = RandomStream(seed: 1)
    func error(steps: Int = 4, count: Int = 1, _ options: SamplingOptions) -> SamplingError? {
      do { _ = try sampler.sample(count: count, steps: steps, rng: &rng, options: options); return nil } catch {
        return error as? SamplingError
      }
    }
    #expect(error(steps: 5, SamplingOptions(bos: 0)) == .stepsDoNotDivideLength(length: 16, steps: 5))
    #expect(error(steps: 5, SamplingOptions(bos: 0, schedule: .nonUniform)) == nil, "non-uniform takes any S")
    #expect(error(steps: 0, SamplingOptions(bos: 0)) == .invalidSteps(0))
    #expect(error(SamplingOptions(bos: 0, topP: 0)) == .invalidTopP(0))
    #expect(error(SamplingOptions(bos: 0, topP: 1.5)) == .invalidTopP(1.5))
    #expect(error(SamplingOptions(bos: 0, topP: .nan)) != nil)
    #expect(error(SamplingOptions(bos: 0, batchSize: 0)) == .invalidBatchSize(0))
    #expect(error(count: -1, SamplingOptions(bos: 0)) == .invalidCount(-1))
    #expect(error(SamplingOptions(prefix: [])) == .emptyPrefix)
    #expect(error(SamplingOptions(prefix: [Int32](repeating: 1, count: 17))) == .prefixTooLong(prefix: 17, length: 16))
    #expect(error(SamplingOptions(prefix: [0, 12])) == .tokenOutsideVocabulary(position: 1, token: 12, vocabularySize: 12))
    #expect(error(SamplingOptions(prefix: [0, -1])) == .tokenOutsideVocabulary(position: 1, token: -1, vocabularySize: 12))
    #expect(error(SamplingOptions(prefix: [0, 11])) == .maskTokenInPrefix(position: 1))
    #expect(error(SamplingOptions(bos: 0, topP: 1)) == nil)
    #expect(SamplingError.stepsDoNotDivideLength(length: 16, steps: 5).description.contains("divide"))
  }
}

@Suite struct RevealOrderTests {
  /// A network that predicts token 0 with probability 0.9 and token 1 with 0.1 everywhere. With
  /// the confidence order, a 2-step sample of 15 unknown positions reveals first the 8 most
  /// confident of 15 draws — token 0 whenever at least 8 draws are 0 — then 7 fresh draws; so the
  /// expected share of 0s is (E[min(8, Bin(15, 0.9))] + 7·0.9)/15 ≈ 0.953, not 0.9.
  @Test func confidenceRevealsTheSurestDrawsFirst() throws {
    let net = try constantPredictor([logf(0.9), logf(0.1), 5], length: 16)  // mask = 2: its logit never counts
    func shareOfZeros(_ order: RevealOrder) throws -> Double {
      var rng = RandomStream(seed: 4)
      let samples = try PartitionSampler(network: net).sample(count: 256, steps: 2, rng: &rng,
                                                              options: SamplingOptions(bos: 0, batchSize: 64, order: order))
      let tokens = samples.flatMap { $0.dropFirst() }
      #expect(tokens.allSatisfy { $0 == 0 || $0 == 1 })
      return Double(tokens.filter { $0 == 0 }.count) / Double(tokens.count)
    }
    var expectedFirst = 0.0  // E[min(8, Bin(15, 0.9))]
    for k in 0...15 {
      var choose = 1.0
      for j in 0..<k { choose = choose * Double(15 - j) / Double(j + 1) }
      let p: Double = choose * pow(0.9, Double(k)) * pow(0.1, Double(15 - k))
      expectedFirst += p * Double(min(8, k))
    }
    let expected = (expectedFirst + 7 * 0.9) / 15
    let n = 256.0 * 15, se = (0.1 * 0.9 / n).squareRoot()
    let confident = try shareOfZeros(.confidence), random = try shareOfZeros(.random)
    #expect(abs(confident - expected) < 5 * se, "confidence order: \(confident) vs \(expected)")
    #expect(abs(random - 0.9) < 5 * se, "random order: \(random) vs 0.9")
  }

  /// Confidence order reveals exactly the schedule's counts, never a position twice, and keeps
  /// the prefix.
  @Test func confidenceKeepsTheScheduleAndThePrefix() throws {
    let net = TinyNetworks.partition(length: 16, mode: .learnFreqs, seed: 5)
    for schedule in PartitionSchedule.allCases {
      let options = SamplingOptions(prefix: [0, 3, 4], batchSize: 3, schedule: schedule, order: .confidence)
      let (outcome, passes) = PartitionSamplerTests.trace(net, prefixes: [[0, 3, 4], [0], [0, 7]], steps: 4,
                                                          options: options, seed: 2)
      #expect(outcome.samples[0].prefix(3) == [0, 3, 4] && outcome.samples[2].prefix(2) == [0, 7])
      #expect(outcome.samples.allSatisfy { !$0.contains(Int32(net.config.maskIndex)) })
      for pass in passes {
        // Each row queries all its unknown positions: the clean set plus the queries cover the row.
        for r in 0..<3 where pass.counts[r] > 0 {
          let clean = Set((0..<pass.packed.lengths[r]).map { pass.packed.positions[r, $0] })
          let width = pass.packed.queryPositions.shape[1]
          let queried = Set((0..<width).map { pass.packed.queryPositions[r, $0] }.prefix(16 - clean.count))
          #expect(clean.isDisjoint(with: queried) && clean.count + queried.count == 16)
        }
      }
    }
  }

  /// Without noise, c and the adaLN modulations computed once per batch (frozen conditioning) give
  /// the logits and samples of computing them per row at every pass. With noise they are computed
  /// per row from each row's σ ~ U(0, noise), even when a frozen conditioning is passed: the logits
  /// are the network's at those σ and not at σ = 0.
  @Test(arguments: [RevealOrder.random, .confidence])
  func frozenConditioningOnlyWithoutNoise(_ order: RevealOrder) {
    let net = TinyNetworks.partition(length: 16, seed: 6)
    let prefixes: [[Int32]] = [[0], [0, 4, 7], [0, 9]]
    let plain = SamplingOptions(bos: 0, batchSize: 3, order: order)
    let (frozen, frozenPasses) = PartitionSamplerTests.trace(net, prefixes: prefixes, steps: 4, options: plain, seed: 8)
    let (perRow, perRowPasses) = PartitionSamplerTests.trace(net, prefixes: prefixes, steps: 4, options: plain, seed: 8,
                                            freezesConditioning: false)
    #expect(frozen.samples == perRow.samples)
    #expect(frozenPasses.count == perRowPasses.count && frozenPasses.allSatisfy { $0.sigma == nil })
    for (a, b) in zip(frozenPasses, perRowPasses) {
      let same = a.logits.toArray() == b.logits.toArray()
      #expect(same, "step \(a.step): σ = 0 once per batch or per row, the same bits")
    }

    let noisy = SamplingOptions(bos: 0, batchSize: 3, order: order, noise: 0.7)
    let (_, passes) = PartitionSamplerTests.trace(net, prefixes: prefixes, steps: 4, options: noisy, seed: 8)
    let (_, passesUnfrozen) = PartitionSamplerTests.trace(net, prefixes: prefixes, steps: 4, options: noisy, seed: 8,
                                         freezesConditioning: false)
    #expect(!passes.isEmpty && passes.count == passesUnfrozen.count)
    let weights = net.packedWeights(), conditioning = net.frozenConditioning()
    func logits(_ pass: PartitionSampler.Pass, sigma: [Float]?, conditioning: PartitionDIT.FrozenConditioning? = nil) -> [Float] {
      let g = Graph(recording: false)
      g.packedWeights = weights
      return net.logits(g, packed: pass.packed, sigma: sigma, conditioning: conditioning).value.toArray()
    }
    for (pass, unfrozen) in zip(passes, passesUnfrozen) {
      guard let sigma = pass.sigma else { Issue.record("a pass with noise has σ"); continue }
      #expect(sigma.count == 3 && sigma.allSatisfy { $0 >= 0 && $0 < 0.7 } && Set(sigma).count == 3)
      let atSigma = logits(pass, sigma: sigma), drawn = pass.logits.toArray()
      let sameUnfrozen = unfrozen.logits.toArray() == drawn, sameAtSigma = drawn == atSigma
      #expect(unfrozen.sigma == sigma && sameUnfrozen, "step \(pass.step): with noise the sampler never freezes")
      #expect(sameAtSigma, "step \(pass.step): the logits at each row's σ")
      let ignored = logits(pass, sigma: sigma, conditioning: conditioning) == atSigma
      #expect(ignored, "step \(pass.step): a frozen conditioning is ignored when σ ≠ 0")
      let atZero = logits(pass, sigma: nil, conditioning: conditioning)
      let zerosPerRow = atZero == logits(pass, sigma: [0, 0, 0])
      #expect(zerosPerRow, "step \(pass.step): σ = 0 per row, the frozen values")
      let scale = atSigma.map { abs($0) }.max()!
      let moved = zip(atSigma, atZero).map { abs($0 - $1) }.max()!
      #expect(moved > 1e-3 * scale, "step \(pass.step): σ changes the logits (\(moved) of \(scale))")
    }
  }
}
