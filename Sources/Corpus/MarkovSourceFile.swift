import Foundation
import HDF5

/// The `/source` group of a synthetic token dataset: everything needed to score samples exactly.
///
/// ```
/// /source/successors          int32   [contexts, B]  allowed successors, ascending per context
/// /source/probabilities       float64 [contexts, B]  their probabilities (rows sum to 1)
/// /source/stationary          float64 [contexts]     stationary distribution over contexts
/// /source/stationary_symbols  float64 [V]            stationary distribution of single symbols
/// attributes: order (1|2), branching (B), symbols (V), seed, length (L), floor (λ),
///             entropy_rate (nats/symbol), expected_nll (per token at L, as metrics score it),
///             expected_sample_entropy (mean per-sample unigram entropy at L, nats),
///             expected_sample_entropy_samples (2048)
/// ```
/// Contexts are the previous symbol (order 1) or the previous two, `a·V + b` (order 2).
enum MarkovSourceFile {
  static let group = "/source"

  static func write(_ source: MarkovSource, to file: H5File) throws {
    let group = try file.createGroup(group)
    let successors = try group.createDataset("successors", of: Int32.self, shape: [source.contexts, source.branching])
    try successors.write(source.successors)
    let probabilities = try group.createDataset("probabilities", of: Double.self,
                                                shape: [source.contexts, source.branching])
    try probabilities.write(source.probabilities)
    try group.createDataset("stationary", of: Double.self, shape: [source.contexts]).write(source.stationary)
    try group.createDataset("stationary_symbols", of: Double.self, shape: [source.symbols])
      .write(source.stationarySymbols)
    let attributes = group.attributes
    try attributes.set("order", source.order)
    try attributes.set("branching", source.branching)
    try attributes.set("symbols", source.symbols)
    try attributes.set("seed", Int64(bitPattern: source.seed))
    try attributes.set("length", source.length)
    try attributes.set("floor", source.floor)
    try attributes.set("entropy_rate", source.entropyRate)
    try attributes.set("expected_nll", source.expectedNLL())
    try attributes.set("expected_sample_entropy", source.sampleEntropy)
    try attributes.set("expected_sample_entropy_samples", MarkovSource.sampleEntropySamples)
  }

  /// Reads and checks the source; inconsistencies are `CorpusError.malformedMarkovSource`.
  static func read(from file: H5File, path: String) throws -> MarkovSource {
    func bad(_ reason: String) -> CorpusError { .malformedMarkovSource(path: path, reason: reason) }
    guard try file.kind(of: group) == .group else { throw bad("there is no /source group") }
    let source = try file.openGroup(group)
    let attributes = source.attributes
    func integer(_ name: String) throws -> Int {
      guard try attributes.contains(name) else { throw bad("the attribute '\(name)' is missing") }
      return Int(try attributes.int64(name))
    }
    let order = try integer("order"), branching = try integer("branching"), symbols = try integer("symbols")
    let length = try integer("length")
    do {
      try MarkovSource.validate(symbols: symbols, branching: branching, order: order, length: length)
    } catch let error as CorpusError {
      throw bad(error.description)
    }
    let contexts = order == 1 ? symbols : symbols * symbols
    func values<E: H5Element>(_ name: String, _ type: E.Type, shape: [Int]) throws -> [E] {
      guard try source.kind(of: name) == .dataset else { throw bad("the dataset /source/\(name) is missing") }
      let dataset = try source.openDataset(name, of: type)
      let stored = try dataset.shape
      guard stored == shape else { throw bad("/source/\(name) has shape \(stored), expected \(shape)") }
      return try dataset.read()
    }
    let successors = try values("successors", Int32.self, shape: [contexts, branching])
    let probabilities = try values("probabilities", Double.self, shape: [contexts, branching])
    let stationary = try values("stationary", Double.self, shape: [contexts])
    let floor = try attributes.contains("floor") ? try attributes.double("floor") : MarkovSource.defaultFloor
    let cached = try attributes.contains("expected_sample_entropy") ? try attributes.double("expected_sample_entropy") : nil
    return try checked(symbols: symbols, branching: branching, order: order, length: length,
                       seed: UInt64(bitPattern: Int64(try integer("seed"))), floor: floor, successors: successors,
                       probabilities: probabilities, stationary: stationary, sampleEntropy: cached, path: path)
  }

  /// A source from stored tables, after checking them (the HDF5 and the JSON form share this):
  /// sizes, distinct successors in range, positive probabilities summing to 1, a distribution
  /// as stationary distribution. Failures are `CorpusError.malformedMarkovSource`.
  static func checked(symbols: Int, branching: Int, order: Int, length: Int, seed: UInt64, floor: Double,
                      successors: [Int32], probabilities: [Double], stationary: [Double], sampleEntropy: Double?,
                      path: String) throws -> MarkovSource {
    func bad(_ reason: String) -> CorpusError { .malformedMarkovSource(path: path, reason: reason) }
    do {
      try MarkovSource.validate(symbols: symbols, branching: branching, order: order, length: length)
    } catch let error as CorpusError {
      throw bad(error.description)
    }
    let contexts = order == 1 ? symbols : symbols * symbols
    guard successors.count == contexts * branching, probabilities.count == contexts * branching,
          stationary.count == contexts else {
      throw bad("the tables do not have \(contexts) contexts of \(branching) successors")
    }
    for context in 0..<contexts {
      let row = successors[(context * branching)..<((context + 1) * branching)]
      guard row.allSatisfy({ $0 >= 0 && Int($0) < symbols }), Set(row).count == branching else {
        throw bad("context \(context) does not list \(branching) distinct successors in 0..<\(symbols)")
      }
      let p = probabilities[(context * branching)..<((context + 1) * branching)]
      guard p.allSatisfy({ $0 > 0 }), abs(p.reduce(0, +) - 1) < 1e-9 else {
        throw bad("the probabilities of context \(context) are not positive or do not sum to 1")
      }
    }
    guard stationary.allSatisfy({ $0 >= 0 }), abs(stationary.reduce(0, +) - 1) < 1e-9 else {
      throw bad("the stationary distribution is not a distribution")
    }
    return MarkovSource(symbols: symbols, branching: branching, order: order, length: length, seed: seed, floor: floor,
                        successors: successors, probabilities: probabilities, stationary: stationary,
                        sampleEntropy: sampleEntropy)
  }
}
