import Engine
import Foundation
import MaskedDiffusion
import Networks
@testable import Teacher
import Testing

@Suite struct MDLMSamplerTests {
  static func trace(_ net: DIT, prefixes: [[Int32]], steps: Int, options: SamplingOptions, seed: UInt64,
                    eps: Double = 1e-5) throws -> (BatchOutcome, [MDLMSampler.Step]) {
    var trace: [MDLMSampler.Step] = []
    var streams = prefixes.indices.map { RandomStream(seed: seed &+ UInt64($0) &* 7919) }
    let outcome = try MDLMSampler(network: net).sampleBatch(prefixes: prefixes, streams: &streams, steps: steps,
                                                            options: options, eps: eps) { trace.append($0) }
    return (outcome, trace)
  }

  /// With fixed logits p(x0) is a known categorical; the mask (here the largest logit) is never
  /// drawn; with top-p the nucleus is taken over the real tokens only (MDLM removes the mask logit
  /// first).
  @Test(arguments: [1.0, 0.6])
  func frequenciesMatchTheNetworkCategorical(_ topP: Double) throws {
    let v = 12, mask = 11
    let net = TinyNetworks.mdlm(length: 16, vocab: v, blocks: 1)
    var weights = (0..<v).map { Double($0 + 1) }
    weights[mask] = 30
    var logits = weights.map { Float(log($0)) }
    TinyNetworks.fixLogits(net.parameters, logits)
    logits[mask] = -.infinity
    let kept = Set(Categorical.nucleus(logits: logits, topP: topP))
    let z = kept.reduce(0.0) { $0 + weights[$1] }
    let expected = (0..<v).map { kept.contains($0) ? weights[$0] / z : 0 }
    var rng = RandomStream(seed: 8)
    // One step and the final one: the fewest passes for many draws (debug builds are slow).
    let samples = try MDLMSampler(network: net).sample(count: 256, steps: 1, rng: &rng,
                                                       options: SamplingOptions(bos: 0, batchSize: 32, topP: topP))
    let counts = Frequencies.counts(samples.flatMap { $0.dropFirst() }, size: v)
    #expect(counts[mask] == 0)
    #expect(Frequencies.worstDeviation(counts: counts, expected: expected) < 4.5, "\(counts) vs \(expected)")
    #expect(samples.allSatisfy { $0[0] == 0 })
  }

  /// Each step unmasks every masked position with probability (α_s − α_t)/(1 − α_t): the number
  /// unmasked per step, summed over a large batch, is within 4.5 standard errors of its expectation.
  @Test func unmaskingFollowsTheAncestralProbabilities() throws {
    let steps = 8
    let (outcome, trace) = try Self.trace(TinyNetworks.mdlm(length: 32, blocks: 1), prefixes: [[Int32]](repeating: [0], count: 96),
                                          steps: steps, options: SamplingOptions(bos: 0), seed: 3)
    #expect(trace.count == steps + 1)
    let dt = (1 - 1e-5) / Double(steps)
    for step in trace.dropLast() {
      let t = 1 - Double(step.index) * dt
      let q = (LogLinearSchedule.alpha(t - dt) - LogLinearSchedule.alpha(t)) / (1 - LogLinearSchedule.alpha(t))
      #expect(abs(step.probability - q) < 1e-12)
      let n = Double(step.maskedBefore), expected = n * q
      #expect(abs(Double(step.unmasked) - expected) <= 4.5 * (n * q * (1 - q)).squareRoot() + 1e-9,
              "step \(step.index): \(step.unmasked) unmasked of \(step.maskedBefore), expected \(expected)")
    }
    // The final step unmasks everything that is left.
    let last = try #require(trace.last)
    #expect(last.probability == 1 && last.unmasked == last.maskedBefore)
    #expect(outcome.samples.allSatisfy { !$0.contains(11) })
    // Masked positions never come back, so the masked count only shrinks.
    #expect(zip(trace, trace.dropFirst()).allSatisfy { $1.maskedBefore == $0.maskedBefore - $0.unmasked })
  }

  /// The network runs only at steps that unmask something; steps where no row changes reuse the
  /// prediction (they cost nothing), so with many more steps than positions most steps are free.
  @Test func networkRunsOnlyWhenABatchChanges() throws {
    let steps = 64
    let (outcome, trace) = try Self.trace(TinyNetworks.mdlm(length: 8), prefixes: [[0], [0]], steps: steps,
                                          options: SamplingOptions(bos: 0, batchSize: 2), seed: 12)
    #expect(trace.allSatisfy { $0.ranNetwork == ($0.unmasked > 0) })
    let changing = trace.filter { $0.unmasked > 0 }.count
    #expect(outcome.passes == changing)
    #expect(outcome.passes <= 14, "at most one pass per unmasked position")
    // The reference runs at the first step and after every step that changed the batch.
    var referencePasses = 1
    for (i, step) in trace.enumerated() where step.unmasked > 0 && i < trace.count - 1 { referencePasses += 1 }
    #expect(outcome.passes <= referencePasses && outcome.passes < steps / 2)
    #expect(outcome.flops == Double(outcome.passes) * FlopCount.dit(TinyNetworks.mdlmConfig(length: 8), batch: 2, length: 8))
  }

  /// Greedy tail: positions left for the final step take the argmax; earlier ones are draws.
  /// (With the reference's eps = 1e-5 almost nothing is left for the final step, so the test ends
  /// the grid at 0.5: the final step then unmasks about half of the sequence.)
  @Test func greedyTailTakesTheArgmax() throws {
    let v = 12
    let net = TinyNetworks.mdlm(length: 16, vocab: v)
    TinyNetworks.fixLogits(net.parameters, (0..<v).map { Float($0 == 6 ? 0.2 : 0) })
    let prefixes = [[Int32]](repeating: [0], count: 8)
    let (outcome, trace) = try Self.trace(net, prefixes: prefixes, steps: 1, options: SamplingOptions(bos: 0, greedyTail: true),
                                          seed: 6, eps: 0.5)
    let final = try #require(trace.last), first = try #require(trace.first)
    #expect(final.unmasked > 10)
    for r in 0..<8 {
      #expect(final.unmaskedPositions[r].allSatisfy { outcome.samples[r][Int($0)] == 6 })
    }
    let drawn = first.unmaskedPositions.enumerated().flatMap { r, ps in ps.map { outcome.samples[r][Int($0)] } }
    #expect(Set(drawn).count > 3, "the first step draws")
  }

  @Test func prefixIsClampedAndSamplesAreReproducible() throws {
    let sampler = try MDLMSampler(network: TinyNetworks.mdlm(length: 16))
    let prefix: [Int32] = [0, 5, 5, 9]
    func run(seed: UInt64, batch: Int) throws -> [[Int32]] {
      var rng = RandomStream(seed: seed)
      return try sampler.sample(count: 5, steps: 4, rng: &rng, options: SamplingOptions(prefix: prefix, batchSize: batch))
    }
    let a = try run(seed: 1, batch: 2)
    #expect(a.allSatisfy { Array($0.prefix(4)) == prefix && $0.count == 16 && !$0.contains(11) })
    #expect(try run(seed: 1, batch: 2) == a)
    #expect(try run(seed: 1, batch: 5) == a, "each row has its own stream")
    #expect(try run(seed: 2, batch: 2) != a)
    let (_, trace) = try Self.trace(TinyNetworks.mdlm(length: 16), prefixes: [prefix], steps: 4,
                                    options: SamplingOptions(prefix: prefix), seed: 1)
    #expect(trace.first?.maskedBefore == 12, "prefix positions are never masked")
    #expect(trace.allSatisfy { $0.unmaskedPositions[0].allSatisfy { $0 >= 4 } })
  }

  @Test func impossibleRequestsAreRefused() throws {
    let sampler = try MDLMSampler(network: TinyNetworks.mdlm(length: 16, vocab: 12))
    var rng = RandomStream(seed: 1)
    func error(steps: Int = 4, _ options: SamplingOptions) -> SamplingError? {
      do { _ = try sampler.sample(count: 1, steps: steps, rng: &rng, options: options); return nil } catch {
        return error as? SamplingError
      }
    }
    #expect(error(steps: 5, SamplingOptions(bos: 0)) == nil, "MDLM takes any step count")
    #expect(error(steps: 0, SamplingOptions(bos: 0)) == .invalidSteps(0))
    #expect(error(SamplingOptions(bos: 0, topP: -0.1)) == .invalidTopP(-0.1))
    #expect(error(SamplingOptions(prefix: [Int32](repeating: 0, count: 20))) == .prefixTooLong(prefix: 20, length: 16))
    #expect(error(SamplingOptions(prefix: [0, 40])) == .tokenOutsideVocabulary(position: 1, token: 40, vocabularySize: 12))
    var ar = TinyNetworks.mdlmConfig()
    ar.kind = .ar
    #expect(throws: SamplingError.self) { try MDLMSampler(network: try DIT(config: ar)) }
    #expect(try makeSampler(for: .mdlm(TinyNetworks.mdlm())) is MDLMSampler)
    #expect(try makeSampler(for: .partition(TinyNetworks.partition())) is PartitionSampler)
  }
}
