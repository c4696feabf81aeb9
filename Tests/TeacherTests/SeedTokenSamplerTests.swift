import Engine
import MaskedDiffusion
import Networks
@testable import Teacher
import Testing

/// The first-step latent of seed-token students (`SeedTokens`), as the partition sampler feeds it.
@Suite struct SeedTokenSamplerTests {
  /// Each row's first pass has a full clean set — its prefix, then a seed at every unknown
  /// position — queries at the positions its step reveals (which the seeds also occupy), and
  /// σ = −1; every later pass is the seed-free one (clean set = prefix + revealed, σ = 0), and the
  /// samples hold no mask and keep their prefixes.
  @Test func firstPassReadsASeedAtEveryUnknownPosition() {
    let net = TinyNetworks.partition(length: 16, seed: 6)
    let prefixes: [[Int32]] = [[0], [0, 4, 7], [0, 9]]
    let options = SamplingOptions(bos: 0, batchSize: 3, seedTokens: true)
    let (outcome, passes) = PartitionSamplerTests.trace(net, prefixes: prefixes, steps: 4, options: options, seed: 8)
    #expect(passes.count == 4)
    let mask = Int32(net.config.maskIndex)
    for (k, pass) in passes.enumerated() {
      for r in 0..<3 {
        let clean = (0..<pass.packed.lengths[r]).map { Int(pass.packed.positions[r, $0]) }
        let queries = (0..<pass.counts[r]).map { Int(pass.packed.queryPositions[r, $0]) }
        if k == 0 {
          #expect(clean.sorted() == Array(0..<16), "row \(r): the first pass sees all 16 positions")
          #expect(Set(queries).isSubset(of: Set(prefixes[r].count..<16)) && !queries.isEmpty)
          for j in 0..<pass.packed.lengths[r] {
            let p = Int(pass.packed.positions[r, j]), token = pass.packed.tokens[r, j]
            #expect(token != mask && Int(token) < net.config.vocabSize)
            if p < prefixes[r].count { #expect(token == prefixes[r][p], "the prefix is read as it is") }
          }
        } else {
          #expect(Set(clean).isDisjoint(with: Set(queries)), "later passes: the usual partition")
          #expect(clean.count == prefixes[r].count + passes[..<k].reduce(0) { $0 + $1.counts[r] })
        }
      }
      if k == 0 { #expect(pass.sigma == [SeedTokens.sigma, SeedTokens.sigma, SeedTokens.sigma]) }
      else { #expect(pass.sigma == nil || pass.sigma!.allSatisfy { $0 == 0 }) }
    }
    for r in 0..<3 {
      #expect(!outcome.samples[r].contains(mask))
      #expect(Array(outcome.samples[r][..<prefixes[r].count]) == prefixes[r])
    }
    // The seeds change the first step's logits (the network reads them), so the samples differ.
    let (plain, _) = PartitionSamplerTests.trace(net, prefixes: prefixes, steps: 4, options: SamplingOptions(bos: 0, batchSize: 3), seed: 8)
    #expect(plain.samples != outcome.samples)
  }

  /// The seeded pass's logits are those of the packed network on the clean set it shows, at σ = −1:
  /// the sampler hides nothing else (the tests of the packed path cover the network itself).
  @Test func firstPassLogitsAreTheNetworksOnThatInput() {
    let net = TinyNetworks.partition(length: 16, seed: 7)
    let options = SamplingOptions(bos: 0, batchSize: 2, order: .confidence, seedTokens: true)
    let (_, passes) = PartitionSamplerTests.trace(net, prefixes: [[0], [0, 3]], steps: 2, options: options, seed: 2)
    let first = passes[0]
    let again = net.logits(Graph(recording: false), packed: first.packed, sigma: first.sigma).value.toArray()
    let atZero = net.logits(Graph(recording: false), packed: first.packed, sigma: nil).value.toArray()
    let scale = again.map { abs($0) }.max()!
    #expect(zip(again, first.logits.toArray()).allSatisfy { abs($0 - $1) <= 1e-5 * scale })
    #expect(zip(again, atZero).contains { abs($0 - $1) > 1e-3 * scale }, "σ = −1 is read")
    #expect((0..<2).allSatisfy { first.packed.lengths[$0] == 16 })
  }

  /// Seeds are uniform over the vocabulary without the mask, wherever the mask id sits.
  @Test(arguments: [0, 5, 11])
  func seedsAvoidTheMaskAndCoverTheRest(mask: Int) {
    var rng = RandomStream(seed: 4)
    var counts = [Int](repeating: 0, count: 12)
    for _ in 0..<22_000 { counts[Int(SeedTokens.draw(vocabularySize: 12, mask: mask, rng: &rng))] += 1 }
    #expect(counts[mask] == 0)
    for c in 0..<12 where c != mask { #expect(abs(counts[c] - 2000) < 200, "token \(c): \(counts[c]) of 22000") }
  }

  @Test func mdlmRefusesSeedTokens() throws {
    let dit = TinyNetworks.mdlm(length: 16, seed: 1)
    var rng = RandomStream(seed: 1)
    #expect(throws: SamplingError.self) {
      try MDLMSampler(network: dit).sample(count: 1, steps: 4, rng: &rng, options: SamplingOptions(bos: 0, seedTokens: true))
    }
  }
}
