import Cluster
import Foundation
import Testing
import TestSupport

/// `pgm cluster-check` as a plain process and under `mpirun -np 2` (when mpirun is installed).
@Suite(.serialized) struct LaunchTests {
  @Test func plainRunIsOneRankWithoutMPI() throws {
    let pgm = try pgmExecutable()
    let result = try runChild(pgm, ["cluster-check"], environment: childEnvironment(), timeout: 120)
    #expect(result.status == 0, "\(result.stderr)")
    let reports = try reportLines(result.stdout)
    #expect(reports.count == 1 && reports[0].size == 1 && !reports[0].mpi && reports[0].ok)
    #expect(reports[0].results["gradient_buckets"] == true)

    let failed = try runChild(pgm, ["cluster-check", "--fail-on-rank", "0"], environment: childEnvironment(), timeout: 120)
    #expect(failed.status == 1 && failed.stderr.contains("pgm: cluster-check: rank 0 failed on purpose"))
  }

  @Test(.enabled(if: mpirun != nil)) func twoRanksAgreeOnEveryCollective() throws {
    let result = try runChild(mpirun!, mpirunArguments + [try pgmExecutable(), "cluster-check", "--bench",
                                                          "--bench-count", "100000", "--bench-repeats", "3"],
                              environment: childEnvironment(), timeout: 180)
    #expect(result.status == 0, "\(result.stderr)")
    let reports = try reportLines(result.stdout)
    #expect(reports.map(\.rank).sorted() == [0, 1], "\(result.stdout)")
    for report in reports {
      #expect(report.size == 2 && report.mpi && report.ok, "\(report.failures)")
      #expect(report.results["allreduce_float"] == true && report.results["broadcast_root_failure"] == true)
      // The gradient reducer with tensors and flags cut across 7-float buckets.
      #expect(report.results["gradient_buckets"] == true, "\(report.failures)")
      #expect(report.bench.map { $0.count == 100_000 && $0.medianMilliseconds > 0 } == true)
    }
  }

  /// A rank that fails ends the whole job: non-zero exit, its message once, no hang (a rank that
  /// called MPI_Finalize before exiting would wait forever for the one blocked in a collective).
  @Test(.enabled(if: mpirun != nil)) func failingRankEndsTheJob() throws {
    let result = try runChild(mpirun!, mpirunArguments + [try pgmExecutable(), "cluster-check", "--fail-on-rank", "1"],
                              environment: childEnvironment(), timeout: 60)
    #expect(!result.timedOut, "the job hung: \(result.stderr)")
    #expect(result.status != 0)
    let message = "pgm: rank 1 of 2: cluster-check: rank 1 failed on purpose (--fail-on-rank 1)"
    #expect(result.stderr.components(separatedBy: message).count == 2, "\(result.stderr)")
    #expect(try reportLines(result.stdout).isEmpty, "rank 0 must not have finished")
  }

  /// Commands that do not divide their work yet refuse to run as several copies.
  @Test(.enabled(if: mpirun != nil)) func otherCommandsRefuseSeveralRanks() throws {
    let result = try runChild(mpirun!, mpirunArguments + [try pgmExecutable(), "verify", "/nonexistent"],
                              environment: childEnvironment(), timeout: 60)
    #expect(!result.timedOut && result.status != 0)
    #expect(result.stderr.contains("this command does not run on several ranks yet"), "\(result.stderr)")
  }
}

/// `mpirun` on PATH, if any.
let mpirun: String? = {
  for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
    let path = "\(directory)/mpirun"
    if FileManager.default.isExecutableFile(atPath: path) { return path }
  }
  return nil
}()

/// Two ranks on this machine, whatever its core count.
let mpirunArguments = ["-np", "2", "--oversubscribe"]

/// The environment for `pgm` and `mpirun`: without any launch variables this test process may have
/// inherited, and allowing Open MPI to run as root (containers, CI).
func childEnvironment() -> [String: String] {
  var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") }
  environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
  environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
  return environment
}

func reportLines(_ stdout: String) throws -> [ClusterCheck.Report] {
  try stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
    try JSONDecoder().decode(ClusterCheck.Report.self, from: Data($0.utf8))
  }
}

/// The `pgm` built beside this test bundle (`swift test` builds every product of the package into the
/// same folder). Built with `swift build --product pgm` when missing.
func pgmExecutable() throws -> String {
  let bundle = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
  let candidate = URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("pgm").path
  if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
  let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  let build = try runChild("/usr/bin/env", ["swift", "build", "--package-path", packageRoot.path, "--product", "pgm"],
                           environment: ProcessInfo.processInfo.environment, timeout: 1800)
  guard build.status == 0, FileManager.default.isExecutableFile(atPath: candidate) else {
    throw ChildFailure(description: "pgm is missing beside the tests (\(candidate)) and could not be built: \(build.stderr)")
  }
  return candidate
}

struct ChildFailure: Error, CustomStringConvertible { let description: String }

struct ChildResult {
  var status: Int32
  var stdout: String
  var stderr: String
  var timedOut: Bool
}

/// Runs `executable` with its output in files (no pipe to fill); after `timeout` seconds SIGTERM
/// (mpirun passes it on to its ranks), then SIGKILL.
func runChild(_ executable: String, _ arguments: [String], environment: [String: String],
              timeout: TimeInterval) throws -> ChildResult {
  let scratch = try Scratch("child")
  defer { scratch.remove() }
  let out = scratch.file("stdout"), err = scratch.file("stderr")
  _ = FileManager.default.createFile(atPath: out.path, contents: nil)
  _ = FileManager.default.createFile(atPath: err.path, contents: nil)
  let child = Process()
  child.executableURL = URL(fileURLWithPath: executable)
  child.arguments = arguments
  child.environment = environment
  child.standardInput = FileHandle.nullDevice
  child.standardOutput = try FileHandle(forWritingTo: out)
  child.standardError = try FileHandle(forWritingTo: err)
  try child.run()
  let deadline = Date().addingTimeInterval(timeout)
  while child.isRunning && Date() < deadline { usleep(20_000) }
  let timedOut = child.isRunning
  if timedOut {
    kill(child.processIdentifier, SIGTERM)
    let grace = Date().addingTimeInterval(10)
    while child.isRunning && Date() < grace { usleep(20_000) }
    if child.isRunning { kill(child.processIdentifier, SIGKILL) }
  }
  child.waitUntilExit()
  return ChildResult(status: child.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
                     stderr: try String(contentsOf: err, encoding: .utf8), timedOut: timedOut)
}
