import ArgumentParser
import Foundation

/// `pgm`: partition generative models and self-distillation through time.
struct PGM: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pgm",
    abstract: "Partition Generative Models and Self-Distillation Through Time, on the CPU.",
    subcommands: [DataCommand.self, PretrainCommand.self, DistillCommand.self, EvalCommand.self, SampleCommand.self, ImportCommand.self, ExportCommand.self,
                  VerifyCommand.self, TokenizerCommand.self, TokenizeCommand.self, BenchCommand.self])
}

CPUCheck.requireVectorUnits()
PGM.main()
