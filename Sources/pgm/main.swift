import ArgumentParser
import Cluster
import Engine
import Foundation

/// `pgm`: partition generative models and self-distillation through time.
struct PGM: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pgm",
    abstract: "Partition Generative Models and Self-Distillation Through Time, on the CPU.",
    subcommands: [DataCommand.self, PretrainCommand.self, DistillCommand.self, EvalCommand.self, CompareCommand.self, SampleCommand.self, ImportCommand.self, ExportCommand.self,
                  VerifyCommand.self, ExportLogitsCommand.self, TokenizerCommand.self, TokenizeCommand.self, BenchCommand.self,
                  ClusterCheckCommand.self])
}

CPUCheck.requireVectorUnits()
// MPI_Init only when launched by mpirun; a plain run makes no MPI call (see Sources/Cluster).
let world = Communicator.start()
// Ranks sharing a machine share its cores: each takes its part unless PGM_THREADS says otherwise.
if world.size > 1 && ProcessInfo.processInfo.environment["PGM_THREADS"] == nil {
  Parallel.setWorkers(ProcessInfo.processInfo.activeProcessorCount / Communicator.ranksOnThisMachine())
}
// PGM.main(), with one difference under mpirun: a failing rank ends the whole job (MPI_Abort) instead
// of exiting alone while the others wait for it in a collective.
do {
  var command = try PGM.parseAsRoot()
  // Until a command splits its work between ranks, N copies of it would write the same files.
  if world.size > 1 && !(command is RunsOnSeveralRanks) {
    Output.error("this command does not run on several ranks yet; launch it without mpirun (or with -np 1)")
    throw ExitCode.failure
  }
  try command.run()
} catch {
  if world.usesMPI && !PGM.exitCode(for: error).isSuccess {
    let message = PGM.fullMessage(for: error)  // empty when the command already printed it
    world.abort(message: message.isEmpty ? "" : "pgm: " + world.label + message, code: PGM.exitCode(for: error).rawValue)
  }
  Communicator.finish()
  PGM.exit(withError: error)
}
Communicator.finish()
