import ArgumentParser
import Cluster
import Distill
import Foundation

/// `pgm cluster-check` (hidden): every collective with known values, one JSON line per rank on
/// standard output; exit 1 when any rank's results are wrong. Launch it the way a run is launched
/// (`mpirun -np 2 --oversubscribe pgm cluster-check`) to check the set-up before a long job.
struct ClusterCheckCommand: ParsableCommand, RunsOnSeveralRanks {
  static let configuration = CommandConfiguration(
    commandName: "cluster-check",
    abstract: "Checks the MPI collectives between the ranks of this launch (one JSON line per rank).",
    shouldDisplay: false)

  @Option(help: "This rank throws after the first barrier: the whole job must end with its message, not hang.")
  var failOnRank: Int?

  @Flag(help: "Also time a sum-allreduce of --bench-count floats (the slowest rank's time).")
  var bench = false

  @Option(help: "Floats per benchmarked allreduce.")
  var benchCount = 1 << 20

  @Option(help: "Timed benchmark repetitions.")
  var benchRepeats = 20

  func validate() throws {
    guard benchCount >= 1, benchRepeats >= 1 else { throw ValidationError("--bench-count and --bench-repeats must be at least 1") }
  }

  func run() throws {
    let world = Communicator.world
    let report = try reportingErrors {
      var report = try ClusterCheck.run(world, failOnRank: failOnRank, benchCount: bench ? benchCount : nil, benchRepeats: benchRepeats)
      try ClusterReduction.check(world, into: &report)
      return report
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    // One unbuffered write per rank, so that mpirun forwards whole lines.
    FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
    if let b = report.bench, world.isRoot {
      Output.progress(String(format: "allreduce of %d floats on %d ranks: median %.3f ms, best %.3f ms, %.2f GB/s (bus %.2f GB/s)",
                             b.count, world.size, b.medianMilliseconds, b.bestMilliseconds, b.algorithmGBPerSecond,
                             b.busGBPerSecond))
    }
    if !report.ok {
      Output.error("cluster-check failed: " + report.failures.keys.sorted().joined(separator: ", "))
      throw ExitCode.failure
    }
  }
}

/// A command that divides its work between the ranks of an mpirun launch; main.swift refuses to run
/// any other command on more than one rank.
protocol RunsOnSeveralRanks {}
