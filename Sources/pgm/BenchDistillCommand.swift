import ArgumentParser
import Cluster
import Distill
import Foundation

/// `pgm bench distill`: target generation (rows/s) and student training (tokens/s) on one rank and
/// on `--ranks` ranks with one thread each, in one invocation: the command prepares the inputs,
/// then launches each leg as a child (`pgm bench distill --leg`, through `mpirun -np N` for N > 1)
/// with PGM_THREADS=1 and OPENBLAS_NUM_THREADS=1, legs alternating when `--repeats` > 1 (best of
/// each kept), and reports the speed-ups and scaling efficiencies with the machine's load.
struct BenchDistillCommand: ParsableCommand, RunsOnSeveralRanks {
  static let configuration = CommandConfiguration(
    commandName: "distill",
    abstract: "Scaling of target generation and student training over MPI ranks (one thread per rank).")

  @Flag(help: "Print one JSON object.")
  var json = false

  @Option(help: "Ranks of the parallel leg.")
  var ranks = 2

  @Option(help: "Legs of each kind, alternated (the best of each is kept).")
  var repeats = 1

  @Option(help: "Target rows per leg.")
  var targetRows = 512

  // 32, not fewer: each leg also pays a fixed ~1–1.5 s (first-step buffers, the final checkpoint that
  // rank 0 writes alone), which at 8 steps hid the per-step scaling (1.06× at 8 steps, 1.73× at 32).
  @Option(help: "Training steps per leg.")
  var steps = 32

  @Option(help: "The folder of the inputs (default: a new temporary folder, removed at the end).")
  var scratch: String?

  @Flag(help: .hidden) var leg = false

  struct Report: Codable {
    var setup: DistillBenchmark.Setup
    var legs: [DistillBenchmark.Leg]
    var one: DistillBenchmark.Leg
    var several: DistillBenchmark.Leg
    var targetSpeedup: Double
    var trainingSpeedup: Double
    var targetEfficiency: Double
    var trainingEfficiency: Double
    var loadBefore: [Double]
    var loadAfter: [Double]
    var cores: Int
    enum CodingKeys: String, CodingKey {
      case setup, legs, one, several, cores
      case targetSpeedup = "target_speedup", trainingSpeedup = "training_speedup"
      case targetEfficiency = "target_efficiency", trainingEfficiency = "training_efficiency"
      case loadBefore = "load_before", loadAfter = "load_after"
    }
  }

  var setup: DistillBenchmark.Setup {
    var s = DistillBenchmark.Setup()
    s.targetRows = targetRows
    s.steps = steps
    return s
  }

  func validate() throws {
    guard ranks >= 2, repeats >= 1, targetRows >= 1, steps >= 1 else {
      throw ValidationError("--ranks must be ≥ 2, --repeats, --target-rows and --steps ≥ 1")
    }
  }

  func run() throws {
    if leg {
      guard let scratch else { throw ValidationError("--leg needs --scratch") }
      let world = Communicator.world
      let figures = try reportingErrors {
        try DistillBenchmark.leg(in: URL(fileURLWithPath: scratch), setup: setup, world: world, log: Output.rootProgress)
      }
      if let figures { FileHandle.standardOutput.write(Data((try Output.json(figures)).utf8) + Data("\n".utf8)) }
      return
    }
    guard Communicator.world.size == 1 else { throw ValidationError("launch `pgm bench distill` without mpirun: it launches its legs itself") }
    try reportingErrors { try measure() }
  }

  func measure() throws {
    guard let mpirun = Self.onPath("mpirun") else { throw CommandFailure("mpirun is not installed (Debian: openmpi-bin)") }
    let dir = URL(fileURLWithPath: scratch ?? NSTemporaryDirectory() + "pgm-bench-distill-\(getpid())")
    defer { if scratch == nil { try? FileManager.default.removeItem(at: dir) } }
    Output.progress("inputs in \(dir.path) …")
    try DistillBenchmark.prepare(in: dir, setup: setup)
    let me = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let legArguments = ["bench", "distill", "--leg", "--scratch", dir.path, "--target-rows", String(targetRows), "--steps", String(steps)]
    let loadBefore = Self.loadAverage()
    var legs: [DistillBenchmark.Leg] = []
    for _ in 0..<repeats {
      Output.progress("leg: 1 rank")
      legs.append(try Self.runLeg(me, legArguments))
      Output.progress("leg: \(ranks) ranks (mpirun)")
      // Unbound: Open MPI pins each of ≤ 2 ranks to a core, where it then shares that core with
      // whatever else runs there instead of moving to the idler one (measured: training 2.2× slower).
      legs.append(try Self.runLeg(mpirun, ["-np", String(ranks), "--oversubscribe", "--bind-to", "none", me] + legArguments))
    }
    let loadAfter = Self.loadAverage()
    func best(_ n: Int, _ key: (DistillBenchmark.Leg) -> Double) -> DistillBenchmark.Leg {
      legs.filter { $0.ranks == n }.max { key($0) < key($1) }!
    }
    var one = best(1, \.targetRowsPerSecond), several = best(ranks, \.targetRowsPerSecond)
    let oneTrain = best(1, \.trainTokensPerSecond), severalTrain = best(ranks, \.trainTokensPerSecond)
    one.trainTokensPerSecond = oneTrain.trainTokensPerSecond; one.trainSeconds = oneTrain.trainSeconds
    several.trainTokensPerSecond = severalTrain.trainTokensPerSecond; several.trainSeconds = severalTrain.trainSeconds
    let n = Double(ranks)
    let report = Report(setup: setup, legs: legs, one: one, several: several,
                        targetSpeedup: several.targetRowsPerSecond / one.targetRowsPerSecond,
                        trainingSpeedup: several.trainTokensPerSecond / one.trainTokensPerSecond,
                        targetEfficiency: several.targetRowsPerSecond / one.targetRowsPerSecond / n,
                        trainingEfficiency: several.trainTokensPerSecond / one.trainTokensPerSecond / n,
                        loadBefore: loadBefore, loadAfter: loadAfter, cores: ProcessInfo.processInfo.activeProcessorCount)
    if json { print(try Output.json(report)); return }
    print(String(format: "target generation: %8.1f rows/s on 1 rank, %8.1f on %d: ×%.2f (efficiency %.2f)",
                 one.targetRowsPerSecond, several.targetRowsPerSecond, ranks, report.targetSpeedup, report.targetEfficiency))
    print(String(format: "student training:  %8.0f tokens/s on 1 rank, %8.0f on %d: ×%.2f (efficiency %.2f)",
                 one.trainTokensPerSecond, several.trainTokensPerSecond, ranks, report.trainingSpeedup, report.trainingEfficiency))
    print(String(format: "one thread per rank, %d cores; load average %.2f before, %.2f after", report.cores,
                 loadBefore.first ?? 0, loadAfter.first ?? 0))
  }

  /// Runs one leg and decodes rank 0's JSON line.
  static func runLeg(_ executable: String, _ arguments: [String]) throws -> DistillBenchmark.Leg {
    var environment = ProcessInfo.processInfo.environment
    environment["PGM_THREADS"] = "1"
    environment["OPENBLAS_NUM_THREADS"] = "1"
    environment["OMPI_ALLOW_RUN_AS_ROOT"] = environment["OMPI_ALLOW_RUN_AS_ROOT"] ?? "1"
    environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] ?? "1"
    let child = Process()
    child.executableURL = URL(fileURLWithPath: executable)
    child.arguments = arguments
    child.environment = environment
    let out = Pipe()
    child.standardOutput = out
    try child.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    child.waitUntilExit()
    guard child.terminationStatus == 0 else {
      throw CommandFailure("the benchmark leg `\(([executable] + arguments).joined(separator: " "))` failed (status \(child.terminationStatus))")
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let start = text.firstIndex(of: "{") else { throw CommandFailure("the benchmark leg printed no figures") }
    return try JSONDecoder().decode(DistillBenchmark.Leg.self, from: Data(text[start...].utf8))
  }

  static func loadAverage() -> [Double] {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return [] }
    return text.split(separator: " ").prefix(3).compactMap { Double($0) }
  }

  static func onPath(_ name: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
      let path = "\(directory)/\(name)"
      if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
  }
}
