import Cluster
import Foundation
import Student

/// How the run's phases divide between the ranks of an mpirun job: rank 0 alone decides whether a
/// phase is done, writes every file of the run folder and holds its lock; work that takes the time
/// (training, target generation) is shared. One process is rank 0 of 1 and runs everything itself.
extension Communicator {
  /// Rank 0 runs `body` while the others wait (sleeping, so that rank 0 has the cores); every rank
  /// returns rank 0's value. Rank 0's failure is rethrown on rank 0 and reported by the others as
  /// `ClusterError.rootFailed`, so no rank is left waiting.
  func rootOnly<T: Codable>(_ body: () throws -> T) throws -> T {
    guard size > 1 else { return try body() }
    var result: Result<T, Error>?
    if isRoot { result = Result { try body() } }
    waitForAll()
    return try broadcast { try result!.get() }
  }

  /// The reducer of data-parallel training over these ranks (nothing to reduce with one).
  var gradientReducer: GradientReducer { size > 1 ? ClusterReduction(world: self) : LocalReduction() }

  /// Fails on every rank unless all ranks were given the same `value` (the recipe, the run folder):
  /// ranks that disagreed would write or read different runs.
  func requireSame<T: Codable>(_ value: T, what: String) throws {
    guard size > 1 else { return }
    let data = try JSONEncoder().encode(value)
    let mine = FileDigest.sha256(of: data.base64EncodedString())
    let all = try allgather(mine)
    if let other = all.indices.first(where: { all[$0] != all[0] }) {
      throw RecipeError.invalid("mpirun", "rank \(other) was given another \(what) than rank 0: every rank must run the same command")
    }
  }
}

extension RunLedger {
  /// `ensure` for a phase whose work every rank shares: rank 0 checks whether it is done (and
  /// verifies its inputs) and records its start and manifest; every rank runs `produce` (in which
  /// only rank 0 writes). Returns whether the phase ran.
  @discardableResult
  func ensure(_ phase: RunPhase, world: Communicator, consumed: () throws -> [String: String],
              produce: () throws -> [URL]) throws -> Bool {
    var ran = false
    guard world.size > 1 else {
      try ensure(phase, consumed: try consumed()) { ran = true; return try produce() }
      return ran
    }
    var recorded: [String: String] = [:]
    let mustRun = try world.rootOnly { () -> Bool in
      recorded = try consumed()
      if try completed(phase, consumed: recorded) != nil { return false }
      try begin(phase, consumed: recorded)
      return true
    }
    guard mustRun else { return false }
    let outputs = try produce()
    _ = try world.rootOnly { () -> Bool in
      try finish(phase, consumed: recorded, outputs: outputs)
      return true
    }
    return true
  }
}
