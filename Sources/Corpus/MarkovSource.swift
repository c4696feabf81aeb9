import Engine
import Foundation

/// A sparse Markov source over the symbols `0 ..< V`: the synthetic corpus with a known answer.
///
/// Each context (order 1: the previous symbol; order 2: the previous two, indexed `a·V + b`)
/// allows exactly `B` distinct successors with positive probabilities; every other successor is
/// forbidden. Rows are `[BOS, x1, …, x(L-1)]` with BOS = V, and the first symbol(s) are drawn from
/// the stationary distribution, so every position of a row has the same (stationary) law.
///
/// Because the source is known exactly, samples of a model trained on it can be scored exactly
/// (`metrics(_:)`): likelihood under the source, the rate of forbidden transitions, the distance
/// of their n-gram frequencies from the source's, and their diversity (unigram entropy).
///
/// How a source is drawn, and why it is always irreducible and aperiodic: see `draw`.
public struct MarkovSource: Sendable, Equatable {
  /// V, the number of symbols; the dataset's vocabulary is V + 1 (BOS), the model's V + 2.
  public let symbols: Int
  /// B, the successors each context allows.
  public let branching: Int
  /// 1 or 2: how many previous symbols form the context.
  public let order: Int
  /// L, the tokens of a row (BOS included): the length samples are drawn and scored at.
  public let length: Int
  /// The seed the tables were drawn from.
  public let seed: UInt64
  /// The weight λ of the uniform part of every context's probabilities (see `draw`).
  public let floor: Double
  /// Successors, `[contexts, B]` row-major, ascending within each context.
  public let successors: [Int32]
  /// Their probabilities, `[contexts, B]`; each context's row sums to 1.
  public let probabilities: [Double]
  /// The stationary distribution over contexts (order 2: over pairs `a·V + b`).
  public let stationary: [Double]
  /// The stationary distribution of single symbols (order 1: equal to `stationary`).
  public let stationarySymbols: [Double]
  /// The source's own mean per-sample unigram entropy at `length`, estimated once by sampling
  /// (see `estimateSampleEntropy`); cached in the file.
  public private(set) var sampleEntropy: Double

  /// The samples `estimateSampleEntropy` draws.
  public static let sampleEntropySamples = 2048
  /// The default weight of the uniform part of the probabilities.
  public static let defaultFloor = 0.25
  /// Draw attempts before giving up (only order 2 can need more than one; see `draw`).
  public static let maximumAttempts = 64

  /// The BOS id: V.
  public var bos: Int32 { Int32(symbols) }
  /// Ids in the dataset: the symbols and BOS.
  public var vocabularySize: Int { symbols + 1 }
  /// The number of contexts: V (order 1) or V² (order 2).
  public var contexts: Int { order == 1 ? symbols : symbols * symbols }

  init(symbols: Int, branching: Int, order: Int, length: Int, seed: UInt64, floor: Double,
       successors: [Int32], probabilities: [Double], stationary: [Double], sampleEntropy: Double?) {
    self.symbols = symbols
    self.branching = branching
    self.order = order
    self.length = length
    self.seed = seed
    self.floor = floor
    self.successors = successors
    self.probabilities = probabilities
    self.stationary = stationary
    if order == 1 {
      stationarySymbols = stationary
    } else {
      stationarySymbols = (0..<symbols).map { a in (0..<symbols).reduce(0.0) { $0 + stationary[a * symbols + $1] } }
    }
    self.sampleEntropy = 0
    self.sampleEntropy = sampleEntropy ?? estimateSampleEntropy()
  }

  // MARK: Drawing a source

  /// Draws a source from a seed.
  ///
  /// Construction (attempt k uses `RandomStream(seed).derive("markov source attempt k")`):
  /// - Successors. Order 1: a random cyclic order of all symbols is drawn and each symbol's
  ///   successor in that cycle is one of its B successors, so every symbol reaches every other:
  ///   the chain is irreducible by construction. Order 2: for each b a random permutation σ_b of
  ///   the symbols is drawn and context (a, b) allows σ_b(a), so every pair (b, c) can be entered;
  ///   irreducibility of the pair chain is then checked. The other B − 1 successors are distinct
  ///   symbols drawn uniformly from the rest (self-transitions allowed).
  /// - Probabilities: `p_j = (1 − λ)·g_j / Σ g + λ / B` with `g_j = −log u_j` (a flat Dirichlet
  ///   draw) and λ = `floor`; every allowed transition has probability at least λ/B, so every one
  ///   of them is learnable.
  /// - Checks: the chain over contexts must be irreducible (every context reaches every other) and
  ///   aperiodic (the gcd of its cycle lengths is 1); otherwise the next attempt is drawn. Order 1
  ///   is irreducible by construction and, with B ≥ 2, periodic only by rare accident.
  /// - The stationary distribution is computed by power iteration in Float64 until the L1 change
  ///   of an iteration is below 1e-15 (`stationaryDistribution`).
  ///
  /// - Throws: `CorpusError.invalidArgument` for V < 2, B outside 2...V, an order other than 1
  ///   or 2, L < order + 2; `.cannotDrawSource` after `maximumAttempts` failed attempts.
  public static func draw(symbols: Int, branching: Int, order: Int, length: Int, seed: UInt64,
                          floor: Double = defaultFloor) throws -> MarkovSource {
    try validate(symbols: symbols, branching: branching, order: order, length: length)
    guard floor > 0, floor <= 1 else { throw CorpusError.invalidArgument("the uniform floor must be in (0, 1], got \(floor)") }
    for attempt in 0..<maximumAttempts {
      var rng = RandomStream(seed: seed).derive("markov source attempt \(attempt)")
      let successors = drawSuccessors(symbols: symbols, branching: branching, order: order, rng: &rng)
      let graph = ContextGraph(symbols: symbols, branching: branching, order: order, successors: successors)
      guard graph.isIrreducible, graph.period == 1 else { continue }
      let probabilities = drawProbabilities(contexts: graph.contexts, branching: branching, floor: floor, rng: &rng)
      let stationary = try stationaryDistribution(graph: graph, probabilities: probabilities)
      return MarkovSource(symbols: symbols, branching: branching, order: order, length: length, seed: seed,
                          floor: floor, successors: successors, probabilities: probabilities,
                          stationary: stationary, sampleEntropy: nil)
    }
    throw CorpusError.cannotDrawSource(
      "no irreducible, aperiodic order-\(order) source with V = \(symbols), B = \(branching) in "
        + "\(maximumAttempts) attempts; use a larger branching factor")
  }

  static func validate(symbols: Int, branching: Int, order: Int, length: Int) throws {
    guard symbols >= 2 else { throw CorpusError.invalidArgument("the vocabulary needs at least 2 symbols, got \(symbols)") }
    guard order == 1 || order == 2 else { throw CorpusError.invalidArgument("the order must be 1 or 2, got \(order)") }
    guard order == 1 || symbols <= 1024 else {
      throw CorpusError.invalidArgument("an order-2 source has V² contexts; V = \(symbols) is above the limit of 1024")
    }
    guard symbols < Int(Int32.max) - 1 else { throw CorpusError.invalidArgument("V = \(symbols) is too large") }
    guard branching <= symbols else {
      throw CorpusError.invalidArgument("the branching factor B = \(branching) exceeds the \(symbols) symbols")
    }
    guard branching >= 2 else {
      throw CorpusError.invalidArgument("the branching factor must be at least 2 (with one successor per context "
                                          + "the chain is deterministic, hence periodic), got \(branching)")
    }
    guard length >= order + 2 else {
      throw CorpusError.invalidArgument("rows of an order-\(order) source need L ≥ \(order + 2) (BOS, \(order) "
                                          + "start symbol(s), one transition), got \(length)")
    }
  }

  private static func drawSuccessors(symbols: Int, branching: Int, order: Int, rng: inout RandomStream) -> [Int32] {
    let contexts = order == 1 ? symbols : symbols * symbols
    var guaranteed = [Int](repeating: 0, count: contexts)
    if order == 1 {
      let cycle = rng.permutation(symbols)
      for i in 0..<symbols { guaranteed[cycle[i]] = cycle[(i + 1) % symbols] }
    } else {
      for b in 0..<symbols {
        let sigma = rng.permutation(symbols)
        for a in 0..<symbols { guaranteed[a * symbols + b] = sigma[a] }
      }
    }
    var table = [Int32](repeating: 0, count: contexts * branching)
    var pool = Array(0..<symbols)
    for context in 0..<contexts {
      // A partial Fisher–Yates shuffle of the symbols other than the guaranteed one.
      let first = guaranteed[context]
      pool.swapAt(first, symbols - 1)  // park the guaranteed symbol out of reach
      for i in 0..<(branching - 1) { pool.swapAt(i, i + rng.int(below: symbols - 1 - i)) }
      var chosen = [first] + pool[0..<(branching - 1)]
      chosen.sort()
      for j in 0..<branching { table[context * branching + j] = Int32(chosen[j]) }
      pool = Array(0..<symbols)
    }
    return table
  }

  private static func drawProbabilities(contexts: Int, branching: Int, floor: Double,
                                        rng: inout RandomStream) -> [Double] {
    var probabilities = [Double](repeating: 0, count: contexts * branching)
    for context in 0..<contexts {
      let weights = (0..<branching).map { _ in -log(1 - rng.uniformDouble()) }
      let total = weights.reduce(0, +)
      for j in 0..<branching {
        let dirichlet = total > 0 ? weights[j] / total : 1 / Double(branching)
        probabilities[context * branching + j] = (1 - floor) * dirichlet + floor / Double(branching)
      }
    }
    return probabilities
  }

  /// π with π = πP over contexts, by power iteration from the uniform distribution until the L1
  /// change of an iteration is below 1e-15 (renormalised every step).
  static func stationaryDistribution(graph: ContextGraph, probabilities: [Double]) throws -> [Double] {
    let contexts = graph.contexts
    var pi = [Double](repeating: 1 / Double(contexts), count: contexts)
    var next = pi
    for _ in 0..<1_000_000 {
      graph.step(pi, probabilities: probabilities, into: &next)
      let total = next.reduce(0, +)
      var change = 0.0
      for i in 0..<contexts {
        next[i] /= total
        change += abs(next[i] - pi[i])
      }
      swap(&pi, &next)
      if change < 1e-15 { return pi }
    }
    throw CorpusError.cannotDrawSource("the stationary distribution did not converge in 1,000,000 iterations")
  }

  // MARK: Probabilities

  /// The context index of the symbols before position `t` of `row` (no range check).
  @inline(__always) func context(_ row: [Int32], before t: Int) -> Int {
    order == 1 ? Int(row[t - 1]) : Int(row[t - 2]) * symbols + Int(row[t - 1])
  }

  /// P(next = symbol | context), 0 for a forbidden successor.
  public func probability(of symbol: Int, context: Int) -> Double {
    let base = context * branching
    for j in 0..<branching where Int(successors[base + j]) == symbol { return probabilities[base + j] }
    return 0
  }

  /// The entropy rate in nats per symbol: Σ_c π(c) H(P(· | c)).
  public var entropyRate: Double {
    var rate = 0.0
    for context in 0..<contexts {
      var h = 0.0
      for j in 0..<branching {
        let p = probabilities[context * branching + j]
        h -= p * log(p)
      }
      rate += stationary[context] * h
    }
    return rate
  }

  /// The exact expected per-token NLL (nats) of the source's own rows of `length` tokens, as
  /// `metrics` scores them: the first `order` symbols cost the entropy of the stationary context
  /// distribution, the other `L − 1 − order` the entropy rate each; divided by the `L − 1`
  /// scored tokens.
  public func expectedNLL(length: Int? = nil) -> Double {
    let length = length ?? self.length
    let start = stationary.reduce(0.0) { $1 > 0 ? $0 - $1 * log($1) : $0 }
    return (start + Double(length - 1 - order) * entropyRate) / Double(length - 1)
  }

  // MARK: Sampling

  /// Draws `count` rows `[BOS, x1, …, x(L-1)]` of `length` tokens (default: the source's L).
  public func sample(count: Int, length: Int? = nil, rng: inout RandomStream) -> [[Int32]] {
    let length = length ?? self.length
    precondition(length >= order + 1, "a row needs BOS and \(order) symbol(s)")
    var cumulativeStationary = [Double](repeating: 0, count: contexts)
    var running = 0.0
    for i in 0..<contexts {
      running += stationary[i]
      cumulativeStationary[i] = running
    }
    var rows: [[Int32]] = []
    rows.reserveCapacity(count)
    for _ in 0..<count {
      var row = [Int32](repeating: 0, count: length)
      row[0] = bos
      // The start context from the stationary distribution (binary search of the CDF).
      let u = rng.uniformDouble() * running
      var low = 0, high = contexts - 1
      while low < high {
        let mid = (low + high) / 2
        if cumulativeStationary[mid] > u { high = mid } else { low = mid + 1 }
      }
      if order == 1 {
        row[1] = Int32(low)
      } else {
        row[1] = Int32(low / symbols)
        if length > 2 { row[2] = Int32(low % symbols) }
      }
      if length > order + 1 {
        for t in (order + 1)..<length { row[t] = Int32(nextSymbol(context: context(row, before: t), rng: &rng)) }
      }
      rows.append(row)
    }
    return rows
  }

  @inline(__always) private func nextSymbol(context: Int, rng: inout RandomStream) -> Int {
    let base = context * branching
    var u = rng.uniformDouble()
    for j in 0..<(branching - 1) {
      u -= probabilities[base + j]
      if u < 0 { return Int(successors[base + j]) }
    }
    return Int(successors[base + branching - 1])
  }

  /// The mean per-sample unigram entropy of `sampleEntropySamples` rows of the source at its
  /// length, drawn with a fixed stream derived from the source's seed (so the value is the same
  /// every time it is computed).
  public func estimateSampleEntropy() -> Double {
    var rng = RandomStream(seed: seed).derive("expected sample entropy at length \(length)")
    let rows = sample(count: Self.sampleEntropySamples, rng: &rng)
    return rows.reduce(0.0) { $0 + SampleMetrics.unigramEntropy($1.dropFirst()) } / Double(rows.count)
  }
}

/// The directed graph of contexts: context c goes to the context after each allowed successor.
struct ContextGraph {
  let symbols: Int
  let branching: Int
  let order: Int
  let successors: [Int32]
  var contexts: Int { order == 1 ? symbols : symbols * symbols }

  /// The context reached from `context` by its j-th successor.
  @inline(__always) func target(_ context: Int, _ j: Int) -> Int {
    let next = Int(successors[context * branching + j])
    return order == 1 ? next : (context % symbols) * symbols + next
  }

  /// next = π P.
  func step(_ pi: [Double], probabilities: [Double], into next: inout [Double]) {
    for i in 0..<contexts { next[i] = 0 }
    for context in 0..<contexts {
      let mass = pi[context]
      for j in 0..<branching { next[target(context, j)] += mass * probabilities[context * branching + j] }
    }
  }

  /// Breadth-first distances from context 0 (-1: unreachable), along or against the edges.
  func distances(reversed: Bool) -> [Int] {
    var incoming: [[Int]] = []
    if reversed {
      incoming = Array(repeating: [], count: contexts)
      for c in 0..<contexts { for j in 0..<branching { incoming[target(c, j)].append(c) } }
    }
    var distance = [Int](repeating: -1, count: contexts)
    distance[0] = 0
    var queue = [0]
    var head = 0
    while head < queue.count {
      let c = queue[head]
      head += 1
      let neighbours = reversed ? incoming[c] : (0..<branching).map { target(c, $0) }
      for n in neighbours where distance[n] < 0 {
        distance[n] = distance[c] + 1
        queue.append(n)
      }
    }
    return distance
  }

  /// Every context reaches every other (context 0 reaches all and all reach context 0).
  var isIrreducible: Bool {
    !distances(reversed: false).contains(-1) && !distances(reversed: true).contains(-1)
  }

  /// The gcd of the cycle lengths of an irreducible graph: gcd over edges u → v of
  /// `d(u) + 1 − d(v)`, with d the breadth-first distance from any context.
  var period: Int {
    let d = distances(reversed: false)
    var g = 0
    for c in 0..<contexts where d[c] >= 0 {
      for j in 0..<branching {
        let t = target(c, j)
        g = gcd(g, abs(d[c] + 1 - d[t]))
      }
    }
    return g
  }

  private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
