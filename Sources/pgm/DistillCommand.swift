import ArgumentParser
import Cluster
import Distill
import Foundation
import Formats

struct DistillCommand: ParsableCommand, RunsOnSeveralRanks {
  static let configuration = CommandConfiguration(
    commandName: "distill",
    abstract: "The main job: pretrain (if needed), distill R SDTT rounds, evaluate the trade-offs, export the student.",
    discussion: """
      Every phase resumes: rerun the same command after an interruption and it continues where it stopped,
      without redoing finished work and without changing the result. Outputs in the run folder:
      report.md, report.json, tradeoff.svg, export/ (the last student), round-<r>/ (targets.h5, student/).
      """)

  @OptionGroup var options: RecipeOptions

  func run() throws {
    Interruption.install()
    try reportingErrors {
      let (recipe, run) = try options.load()
      let world = Communicator.world
      // Under mpirun every rank runs the job; rank 0 reports (the others return no summary).
      guard let summary = try MainJob.run(recipe, folder: run, world: world, log: Output.rootProgress) else { return }
      print(summary.markdown)
      print("report:   \(summary.reportPath) (and report.json)")
      print("plot:     \(summary.plotPath)")
      if let path = summary.exportPath {
        print("student:  \(path) (model.safetensors, config.json, provenance.json, README.md, and the tokenizer or Markov source)")
      } else {
        print("student:  not exported: \(summary.exportNote ?? "unknown reason")")
      }
      print(String(format: "wall time of this command: %.1f s", summary.seconds))
    }
  }
}
