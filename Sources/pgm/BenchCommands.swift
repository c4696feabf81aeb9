import ArgumentParser
import Foundation
import Student

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Benchmarks (build with -c release). Figures are measured in one process against raw cblas_sgemm.",
    subcommands: [BenchTrainCommand.self, BenchTokenizeCommand.self, BenchSampleCommand.self, BenchDistillCommand.self])
}

struct BenchTrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Forward and training-step throughput of the partition network (D=256, 4 heads, 4+4 blocks, L=256, V=2049, batch 8).")

  @Flag(help: "Print one JSON object.")
  var json = false

  @Option(help: "Timed repetitions (best is reported).")
  var repeats = 5

  func run() throws {
    var bench = TrainingBenchmark()
    bench.repeats = repeats
    let f = try reportingErrors { try bench.run(progress: Output.progress) }
    if json { print(try Output.json(f)); return }
    print(String(format: "raw cblas_sgemm 2048³:      %7.1f GFLOP/s", f.sgemmGFLOPs))
    print(String(format: "forward:        %8.0f tokens/s  %6.1f GFLOP/s  MFU %.2f  (%.3f s)", f.forwardTokensPerSecond,
                 f.forwardGFLOPs, f.forwardMFU, f.forwardSeconds))
    print(String(format: "training step:  %8.0f tokens/s  %6.1f GFLOP/s  MFU %.2f  (%.3f s)", f.tokensPerSecond,
                 f.gflops, f.mfu, f.stepSeconds))
    print(String(format: "(forward %.1f GFLOP analytic; a step counts 3×)", f.forwardFLOPs / 1e9))
  }
}
