import ArgumentParser
import Foundation

/// `pgm`: partition generative models and self-distillation through time.
struct PGM: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pgm",
    abstract: "Partition Generative Models and Self-Distillation Through Time, on the CPU.",
    subcommands: [VerifyCommand.self, TokenizerCommand.self, TokenizeCommand.self, SampleCommand.self, BenchCommand.self])
}

CPUCheck.requireVectorUnits()
PGM.main()
