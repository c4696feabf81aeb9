// The sparse Markov source: its tables, its stationary distribution, and exact sample metrics.
import TestSupport
import Engine
import Foundation
import HDF5
import Testing
@testable import Corpus

@Suite struct MarkovSourceTests {
  static func checkTables(_ source: MarkovSource) {
    let b = source.branching
    for context in 0..<source.contexts {
      let successors = source.successors[(context * b)..<((context + 1) * b)]
      #expect(Set(successors).count == b, "context \(context) has \(b) distinct successors")
      #expect(successors.allSatisfy { $0 >= 0 && Int($0) < source.symbols })
      #expect(Array(successors) == successors.sorted())
      let p = source.probabilities[(context * b)..<((context + 1) * b)]
      #expect(abs(p.reduce(0, +) - 1) < 1e-12)
      #expect(p.allSatisfy { $0 >= source.floor / Double(b) - 1e-15 })
    }
  }

  /// max_c |π(c) − (πP)(c)|, computed independently of the power iteration's own graph code.
  static func stationaryResidual(_ source: MarkovSource) -> Double {
    var next = [Double](repeating: 0, count: source.contexts)
    let v = source.symbols, b = source.branching
    for context in 0..<source.contexts {
      for j in 0..<b {
        let symbol = Int(source.successors[context * b + j])
        let target = source.order == 1 ? symbol : (context % v) * v + symbol
        next[target] += source.stationary[context] * source.probabilities[context * b + j]
      }
    }
    return zip(next, source.stationary).map { abs($0 - $1) }.max()!
  }

  @Test(arguments: [(16, 3, 1), (64, 4, 1), (2, 2, 1), (8, 3, 2), (6, 2, 2)])
  func tablesAndStationaryDistribution(symbols: Int, branching: Int, order: Int) throws {
    let source = try MarkovSource.draw(symbols: symbols, branching: branching, order: order, length: 32, seed: 42)
    Self.checkTables(source)
    #expect(source.contexts == (order == 1 ? symbols : symbols * symbols))
    #expect(Self.stationaryResidual(source) < 1e-12)
    #expect(abs(source.stationary.reduce(0, +) - 1) < 1e-12)
    #expect(source.stationary.allSatisfy { $0 > 0 }, "irreducible: every context is visited")
    #expect(abs(source.stationarySymbols.reduce(0, +) - 1) < 1e-12)
    let graph = ContextGraph(symbols: symbols, branching: branching, order: order, successors: source.successors)
    #expect(graph.isIrreducible && graph.period == 1)
    #expect(source.entropyRate > 0 && source.entropyRate < log(Double(branching)))
  }

  /// The JSON form exported models carry reads back bit for bit, and a tampered table is refused.
  @Test(arguments: [1, 2])
  func jsonFormRoundTripsExactly(order: Int) throws {
    let source = try MarkovSource.draw(symbols: 7, branching: 3, order: order, length: 12, seed: 41)
    let data = try MarkovSourceJSON.encode(source)
    #expect(try MarkovSourceJSON.decode(data, path: "m.json") == source)
    var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    #expect(object["bos_id"] as? Int == 7 && object["format"] as? String == "pgm-markov-source")
    var rows = try #require(object["probabilities"] as? [[Double]])
    rows[0][0] += 0.25
    object["probabilities"] = rows
    let tampered = try JSONSerialization.data(withJSONObject: object)
    #expect { try MarkovSourceJSON.decode(tampered, path: "m.json") } throws: {
      "\($0)".contains("do not sum to 1")
    }
  }

  @Test func graphChecksDetectReducibleAndPeriodicChains() {
    // 0 → 1 → 0 and 2 → 3 → 2: two classes.
    let split = ContextGraph(symbols: 4, branching: 1, order: 1, successors: [1, 0, 3, 2])
    #expect(!split.isIrreducible)
    // 0 → 1 → 2 → 0, also 0 → 1 twice over: a 3-cycle, period 3.
    let cycle = ContextGraph(symbols: 3, branching: 1, order: 1, successors: [1, 2, 0])
    #expect(cycle.isIrreducible && cycle.period == 3)
    // Bipartite: 0,1 ↔ 2,3 has period 2; adding a self-loop makes it aperiodic.
    let bipartite = ContextGraph(symbols: 4, branching: 2, order: 1, successors: [2, 3, 2, 3, 0, 1, 0, 1])
    #expect(bipartite.isIrreducible && bipartite.period == 2)
    let loop = ContextGraph(symbols: 4, branching: 2, order: 1, successors: [0, 2, 2, 3, 0, 1, 0, 1])
    #expect(loop.isIrreducible && loop.period == 1)
  }

  @Test func invalidParametersAreRejected() {
    #expect(throws: CorpusError.self) { try MarkovSource.draw(symbols: 1, branching: 1, order: 1, length: 8, seed: 0) }
    #expect(throws: CorpusError.self) { try MarkovSource.draw(symbols: 8, branching: 9, order: 1, length: 8, seed: 0) }
    #expect(throws: CorpusError.self) { try MarkovSource.draw(symbols: 8, branching: 1, order: 1, length: 8, seed: 0) }
    #expect(throws: CorpusError.self) { try MarkovSource.draw(symbols: 8, branching: 2, order: 3, length: 8, seed: 0) }
    #expect(throws: CorpusError.self) { try MarkovSource.draw(symbols: 8, branching: 2, order: 2, length: 3, seed: 0) }
  }

  @Test(arguments: [1, 2])
  func sourceSamplesScoreLikeTheSource(order: Int) throws {
    let source = try MarkovSource.draw(symbols: 16, branching: 3, order: order, length: 64, seed: 9)
    var rng = RandomStream(seed: 1)
    let samples = source.sample(count: 2048, rng: &rng)
    #expect(samples.allSatisfy { $0.count == 64 && $0[0] == source.bos && $0.dropFirst().allSatisfy { $0 < 16 } })
    let m = try source.metrics(samples)
    #expect(m.samples == 2048 && m.nllSamples == 2048)
    #expect(m.forbiddenRate == 0 && m.forbiddenRateSE == 0)
    #expect(abs(m.nll - source.expectedNLL()) < 4 * m.nllSE, "NLL \(m.nll) vs expected \(source.expectedNLL())")
    #expect(m.sourceNLL == source.expectedNLL())
    // The cached sample entropy is itself a 2,048-sample estimate: compare within both errors.
    #expect(abs(m.entropy - m.sourceEntropy) < 4 * m.entropySE * 2.0.squareRoot())
    // TV falls as samples grow (about as 1/√N).
    let small = try source.metrics(Array(samples.prefix(16))).bigramTV
    let medium = try source.metrics(Array(samples.prefix(256))).bigramTV
    #expect(small > medium && medium > m.bigramTV)
    #expect(m.bigramTV < (order == 1 ? 0.03 : 0.08))
  }

  @Test(arguments: [1, 2])
  func uniformSamplesAreMostlyForbidden(order: Int) throws {
    let v = 16, b = 3
    let source = try MarkovSource.draw(symbols: v, branching: b, order: order, length: 64, seed: 4)
    var rng = RandomStream(seed: 2)
    let samples = (0..<1000).map { _ in [source.bos] + (1..<64).map { _ in Int32(rng.int(below: v)) } }
    let m = try source.metrics(samples)
    let expected = 1 - Double(b) / Double(v)
    #expect(abs(m.forbiddenRate - expected) < 4 * m.forbiddenRateSE, "\(m.forbiddenRate) vs \(expected)")
    #expect(m.bigramTV > 0.8)
    #expect(m.entropy > m.sourceEntropy)  // uniform draws are more diverse than the source
  }

  @Test func quickstartSourceSeparatesUniformFromPerfectSamples() throws {
    let source = try MarkovSource.draw(symbols: 64, branching: 4, order: 1, length: 128, seed: 0)
    var rng = RandomStream(seed: 3)
    let uniform = (0..<256).map { _ in [source.bos] + (1..<128).map { _ in Int32(rng.int(below: 64)) } }
    let u = try source.metrics(uniform)
    #expect(abs(u.forbiddenRate - (1 - 4.0 / 64)) < 4 * u.forbiddenRateSE)
    let perfect = try source.metrics(source.sample(count: 256, rng: &rng))
    #expect(perfect.forbiddenRate == 0)
    #expect(abs(perfect.nll - source.expectedNLL()) < 4 * perfect.nllSE)
  }

  @Test func handMadeRowsScoreExactly() throws {
    let source = try MarkovSource.draw(symbols: 8, branching: 2, order: 1, length: 5, seed: 1)
    let bos = source.bos, mask = Int32(9)
    // a, its first successor b ≠ a, and a symbol that may not follow b (≠ a, b): all distinct.
    let a = 0
    let j = source.successors[0] == 0 ? 1 : 0
    let b = Int(source.successors[j])
    let forbidden = Int32((0..<8).first { $0 != a && $0 != b && source.probability(of: $0, context: b) == 0 }!)
    // Metrics take rows of any common length ≥ order + 2, not only the source's L.
    let exact = try source.metrics([[bos, Int32(a), Int32(b)]])
    let nll = -(log(source.stationarySymbols[a]) + log(source.probabilities[j])) / 2
    #expect(abs(exact.nll - nll) < 1e-12)
    #expect(exact.forbiddenRate == 0 && exact.nllSE == 0)
    // a → b allowed, b → forbidden forbidden, forbidden → mask and mask → a foreign: 3 of 4.
    let m = try source.metrics([[bos, Int32(a), Int32(b), forbidden, mask, Int32(a)]])
    #expect(m.forbiddenRate == 0.75)
    // Scored: x1 = a (stationary), b after a; `forbidden` itself has probability 0, mask and the
    // a after it have no valid context.
    #expect(abs(m.nll - nll) < 1e-12)
    // Entropy of {a, b, forbidden, mask, a}.
    let f = [0.4, 0.2, 0.2, 0.2]
    #expect(abs(m.entropy - f.reduce(0) { $0 - $1 * log($1) }) < 1e-12)
    // A row that is all foreign tokens has nothing to score for NLL.
    let foreign = try source.metrics([[bos, mask, mask, mask]])
    #expect(foreign.nllSamples == 0 && foreign.forbiddenRate == 1 && foreign.bigramTV == 1)
    #expect(throws: CorpusError.invalidSample(index: 1, reason: "position 0 holds 3, not BOS (8)")) {
      try source.metrics([[bos, 1, 2], [3, 1, 2]])
    }
    #expect(throws: CorpusError.self) { try source.metrics([[bos, 1]]) }
    #expect(throws: CorpusError.self) { try source.metrics([[bos, 1, 2], [bos, 1, 2, 3]]) }
  }

  @Test func unigramEntropyIsExactAndIndependentOfOrder() {
    let tokens: [Int32] = [3, 1, 3, 7, 1, 3, 65, 3]
    let f = [4.0 / 8, 2.0 / 8, 1.0 / 8, 1.0 / 8]
    #expect(abs(SampleMetrics.unigramEntropy(tokens) - f.reduce(0) { $0 - $1 * log($1) }) < 1e-15)
    var rng = RandomStream(seed: 5)
    let many = (0..<5000).map { _ in Int32(rng.int(below: 300)) }
    let shuffled = rng.permutation(many.count).map { many[$0] }
    #expect(SampleMetrics.unigramEntropy(many) == SampleMetrics.unigramEntropy(shuffled))
    #expect(SampleMetrics.unigramEntropy([Int32]()) == 0 && SampleMetrics.unigramEntropy([Int32(4), 4]) == 0)
  }

  @Test func metricsEncodeWithSnakeCaseKeys() throws {
    let source = try MarkovSource.draw(symbols: 4, branching: 2, order: 1, length: 8, seed: 0)
    var rng = RandomStream(seed: 0)
    let json = try JSONEncoder().encode(try source.metrics(source.sample(count: 4, rng: &rng)))
    let keys = Set(try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any]).keys)
    #expect(keys.isSuperset(of: ["nll", "nll_se", "forbidden_rate", "forbidden_rate_se", "bigram_tv", "entropy",
                                 "entropy_se", "source_entropy", "samples"]))
  }

  @Test func syntheticDatasetStoresTheSourceAndIsDeterministic() throws {
    let scratch = try Scratch()
    func build(_ name: String, seed: UInt64, order: Int = 2) throws -> String {
      var options = SyntheticDatasetOptions(output: URL(fileURLWithPath: scratch.path(name)))
      options.symbols = 8
      options.branching = 3
      options.order = order
      options.length = 24
      options.sequences = 600
      options.validationSequences = 50
      options.seed = seed
      _ = try SyntheticDatasetBuilder.build(options)
      return scratch.path(name)
    }
    let first = try TokenDataset(path: try build("a.h5", seed: 7))
    let second = try TokenDataset(path: try build("b.h5", seed: 7))
    let other = try TokenDataset(path: try build("c.h5", seed: 8))
    let a = first.attributes
    #expect(a.kind == .synthetic && a.length == 24 && a.vocabularySize == 9 && a.bosId == 8 && a.eosId == nil)
    #expect(a.splitRule == .independent)
    #expect(first.rowCount(.train) == 600 && first.rowCount(.validation) == 50)
    #expect(a == second.attributes)
    // Byte for byte: no time stamps, no process-dependent (hash-ordered) sums.
    #expect(try Data(contentsOf: URL(fileURLWithPath: first.path)) == Data(contentsOf: URL(fileURLWithPath: second.path)))
    for split in DatasetSplit.allCases {
      #expect(try first.rows(split, 0..<first.rowCount(split)) == second.rows(split, 0..<second.rowCount(split)))
    }
    #expect(try first.rows(.train, 0..<600) != other.rows(.train, 0..<600))
    let source = try first.markovSource()
    #expect(source == (try second.markovSource()))
    #expect(source != (try other.markovSource()))
    #expect(source == (try MarkovSource.draw(symbols: 8, branching: 3, order: 2, length: 24, seed: 7)))
    // The stored rows are the source's own samples.
    let m = try source.metrics(try first.rows(.train, 0..<600))
    #expect(m.forbiddenRate == 0)
    #expect(abs(m.nll - source.expectedNLL()) < 4 * m.nllSE)
    // The attributes a reader without Swift uses.
    let file = try H5File.open(first.path)
    let group = try file.openGroup("source")
    #expect(try group.attributes.int64("order") == 2)
    #expect(try group.attributes.double("entropy_rate") == source.entropyRate)
    #expect(try group.attributes.double("expected_sample_entropy") == source.sampleEntropy)
    #expect(try file.datasetInfo("/source/successors").shape == [64, 3])
    // Text datasets have no source.
    try writeDataset(scratch.path("text.h5"), length: 4, vocabularySize: 5, train: [[4, 0, 1, 4]])
    #expect(throws: CorpusError.noMarkovSource(path: scratch.path("text.h5"))) {
      try TokenDataset(path: scratch.path("text.h5")).markovSource()
    }
  }
}
