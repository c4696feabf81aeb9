import ArgumentParser
import Distill
import Foundation

struct DistillCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "distill",
    abstract: "The main job: pretrain (if needed), distill R SDTT rounds, evaluate the trade-offs, export the student.",
    discussion: """
      Every phase resumes: rerun the same command after an interruption and it continues where it stopped,
      without redoing finished work and without changing the result.
      """)

  @OptionGroup var options: RecipeOptions

  func run() throws {
    try reportingErrors {
      let (recipe, run) = try options.load()
      try run.create()
      let dataset = try DataPreparation.prepare(recipe, run: run, log: Output.progress)
      _ = try Pretraining.teacher(recipe, run: run, dataset: dataset, log: Output.progress)
      _ = try Pretraining.evaluator(recipe, run: run, dataset: dataset, log: Output.progress)
      let distillation = try Distillation(recipe: recipe, run: run, dataset: dataset, log: Output.progress)
      let timings = try distillation.distill()
      for t in timings {
        print(String(format: "round %d (%d steps): targets %.1f s, student %.1f s", t.round, t.steps, t.targetSeconds, t.trainingSeconds))
      }
    }
  }
}
