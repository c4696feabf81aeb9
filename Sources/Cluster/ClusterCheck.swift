import Foundation

/// `pgm cluster-check`: every collective with values whose result is known, so that a launch
/// (mpirun, hostfile, network) can be checked before a long run, and a benchmark of the gradient
/// allreduce. Every rank returns its own report.
public enum ClusterCheck {
  public struct Report: Codable, Sendable {
    public var rank: Int
    public var size: Int
    public var host: String
    /// Whether MPI was initialised (launched by mpirun).
    public var mpi: Bool
    /// Check name → passed.
    public var results: [String: Bool]
    /// What the failed checks got.
    public var failures: [String: String]
    public var ok: Bool { results.values.allSatisfy { $0 } }
    public var bench: Bench?

    enum CodingKeys: String, CodingKey { case rank, size, host, mpi, results, failures, ok, bench }

    public init(rank: Int, size: Int, host: String, mpi: Bool) {
      self.rank = rank; self.size = size; self.host = host; self.mpi = mpi
      results = [:]; failures = [:]
    }

    public init(from decoder: Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      rank = try c.decode(Int.self, forKey: .rank)
      size = try c.decode(Int.self, forKey: .size)
      host = try c.decode(String.self, forKey: .host)
      mpi = try c.decode(Bool.self, forKey: .mpi)
      results = try c.decode([String: Bool].self, forKey: .results)
      failures = try c.decode([String: String].self, forKey: .failures)
      bench = try c.decodeIfPresent(Bench.self, forKey: .bench)
    }

    public func encode(to encoder: Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(rank, forKey: .rank)
      try c.encode(size, forKey: .size)
      try c.encode(host, forKey: .host)
      try c.encode(mpi, forKey: .mpi)
      try c.encode(results, forKey: .results)
      try c.encode(failures, forKey: .failures)
      try c.encode(ok, forKey: .ok)
      try c.encodeIfPresent(bench, forKey: .bench)
    }

    public mutating func record(_ name: String, _ passed: Bool, _ got: @autoclosure () -> String) {
      results[name] = passed
      if !passed { failures[name] = got() }
    }
  }

  /// Timings of a sum-allreduce of `count` floats; every figure is the slowest rank's.
  public struct Bench: Codable, Sendable {
    public var count: Int
    public var repeats: Int
    public var bestMilliseconds: Double
    public var medianMilliseconds: Double
    /// Buffer bytes over the median time.
    public var algorithmGBPerSecond: Double
    /// The same times 2(N−1)/N: what each link carries in a ring allreduce.
    public var busGBPerSecond: Double
  }

  /// The failure `--fail-on-rank` asks for.
  public struct DeliberateFailure: Error, CustomStringConvertible {
    public let rank: Int
    public var description: String { "cluster-check: rank \(rank) failed on purpose (--fail-on-rank \(rank))" }
  }

  struct Sample: Codable, Equatable {
    var name: String
    var numbers: [Double]
    var seed: UInt64
  }

  /// Runs every check on every rank. `failOnRank`: that rank throws `DeliberateFailure` after the
  /// first barrier, while the others go on into the next collective (and would wait forever if the
  /// failure did not end the job).
  public static func run(_ world: Communicator, failOnRank: Int? = nil, benchCount: Int? = nil,
                         benchRepeats: Int = 20) throws -> Report {
    let rank = world.rank, n = world.size
    let triangle = n * (n + 1) / 2  // Σ (rank + 1)
    var report = Report(rank: rank, size: n, host: ProcessInfo.processInfo.hostName, mpi: world.usesMPI)

    world.barrier()
    report.record("barrier", true, "")
    if failOnRank == rank { throw DeliberateFailure(rank: rank) }

    var floats = (0..<1003).map { Float(rank + 1) * Float($0 % 7 + 1) }
    world.allreduceSum(&floats)
    report.record("allreduce_float", floats == (0..<1003).map { Float(triangle) * Float($0 % 7 + 1) },
                  "\(floats.prefix(8))")

    var doubles = (0..<257).map { Double(rank + 1) * 0.5 * Double($0 % 5 + 1) }
    world.allreduceSum(&doubles)
    report.record("allreduce_double", doubles == (0..<257).map { Double(triangle) * 0.5 * Double($0 % 5 + 1) },
                  "\(doubles.prefix(8))")

    var counts: [Int64] = [Int64(rank), 1 << 40]
    world.allreduceSum(&counts)
    report.record("allreduce_int64", counts == [Int64(n * (n - 1) / 2), Int64(n) << 40], "\(counts)")

    let total = world.allreduceSum(Double(rank))
    report.record("allreduce_scalar", total == Double(n * (n - 1) / 2), "\(total)")

    let big = UnsafeMutableBufferPointer<Float>.allocate(capacity: (1 << 16) + 5)
    defer { big.deallocate() }
    for i in big.indices { big[i] = Float(rank + 1) * Float(i % 3) }
    world.allreduceSum(big)
    report.record("allreduce_pointer", big.indices.allSatisfy { big[$0] == Float(triangle) * Float($0 % 3) },
                  "\(Array(big.prefix(6)))")

    for i in big.indices { big[i] = Float(rank + 1) }
    let pending = world.startAllreduceSum(big)
    var polls = 0
    while !pending.test() && polls < 1000 { polls += 1 }
    pending.wait()
    report.record("start_allreduce", big.allSatisfy { $0 == Float(triangle) }, "\(Array(big.prefix(6)))")

    var weights: [Float] = world.isRoot ? [1.5, -2, 3.25, .infinity] : [0, 0, 0, 0]
    world.broadcast(&weights)
    report.record("broadcast_floats", weights == [1.5, -2, 3.25, .infinity], "\(weights)")

    let bytes = try world.broadcast(bytes: { Array("hello from rank \(rank)".utf8) })
    report.record("broadcast_bytes", bytes == Array("hello from rank 0".utf8), String(decoding: bytes, as: UTF8.self))

    let expected = Sample(name: "recipe", numbers: [0.1, -1e-300, .infinity, 3], seed: 0xDEAD_BEEF_CAFE)
    let sample = try world.broadcast { () throws -> Sample in
      rank == 0 ? expected : Sample(name: "not root", numbers: [], seed: UInt64(rank))
    }
    report.record("broadcast_value", sample == expected, "\(sample)")

    // Rank 0 fails while producing the value: it rethrows, every other rank throws, none waits.
    do {
      _ = try world.broadcast { () throws -> Sample in throw DeliberateFailure(rank: rank) }
      report.record("broadcast_root_failure", false, "no error")
    } catch let ClusterError.rootFailed(message) {
      report.record("broadcast_root_failure", rank != 0 && message.contains("rank 0 failed on purpose"), message)
    } catch {
      report.record("broadcast_root_failure", rank == 0 && error is DeliberateFailure, "\(error)")
    }

    let ints = world.allgather(rank * 10 + 1)
    report.record("allgather_int", ints == (0..<n).map { $0 * 10 + 1 }, "\(ints)")

    let reals = world.allgather(Double(rank) + 0.25)
    report.record("allgather_double", reals == (0..<n).map { Double($0) + 0.25 }, "\(reals)")

    // Lengths differ between ranks.
    let values = try world.allgather(Sample(name: String(repeating: "r", count: rank + 1), numbers: [Double(rank)],
                                            seed: UInt64(rank)))
    report.record("allgather_value", values == (0..<n).map {
      Sample(name: String(repeating: "r", count: $0 + 1), numbers: [Double($0)], seed: UInt64($0))
    }, "\(values)")

    if let count = benchCount { report.bench = bench(world, count: count, repeats: benchRepeats) }
    world.barrier()
    return report
  }

  /// Times `repeats` sum-allreduces of `count` floats (after 3 untimed), each started together.
  public static func bench(_ world: Communicator, count: Int, repeats: Int) -> Bench {
    let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
    defer { buffer.deallocate() }
    buffer.initialize(repeating: 1e-3)
    var times: [Double] = []
    for i in 0 ..< repeats + 3 {
      world.barrier()
      let start = DispatchTime.now().uptimeNanoseconds
      world.allreduceSum(buffer)
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
      if i >= 3 { times.append(seconds) }
    }
    // The slowest rank's time for each repetition.
    for i in times.indices { times[i] = world.allgather(times[i]).max()! }
    let sorted = times.sorted()
    let median = sorted[sorted.count / 2]
    let bytes = Double(count * MemoryLayout<Float>.stride)
    let n = Double(world.size)
    return Bench(count: count, repeats: repeats, bestMilliseconds: sorted[0] * 1e3, medianMilliseconds: median * 1e3,
                 algorithmGBPerSecond: bytes / median / 1e9, busGBPerSecond: bytes / median / 1e9 * 2 * (n - 1) / n)
  }
}
