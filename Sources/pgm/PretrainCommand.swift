import ArgumentParser
import Cluster
import Distill
import Foundation
import Formats

/// Loads a recipe and applies the command-line overrides every run command shares.
struct RecipeOptions: ParsableArguments {
  @Option(help: "The run recipe (runs/NAME.json).")
  var recipe: String

  @Option(help: "Replace every seed of the recipe (that of the synthetic source included).")
  var seed: UInt64?

  @Option(help: "The run folder (default runs/<recipe name>).")
  var out: String?

  func load() throws -> (Recipe, RunFolder) {
    var r = try Recipe.load(URL(fileURLWithPath: recipe))
    if let seed { r.seed = seed }
    return (r, RunFolder(recipe: r, out: out))
  }
}

struct PretrainCommand: ParsableCommand, RunsOnSeveralRanks {
  static let configuration = CommandConfiguration(
    commandName: "pretrain",
    abstract: "Train the recipe's network (and, for text recipes, its autoregressive evaluator).",
    discussion: """
      Checkpoints are written atomically every checkpoint_every steps; rerunning the same command after an
      interruption (even kill -9) continues from the last checkpoint and reproduces an uninterrupted run.
      Outputs: <run>/teacher/{checkpoint.safetensors, metrics.jsonl, model/ (EMA), model-raw/}.
      """)

  @OptionGroup var options: RecipeOptions

  @Option(help: "Train only this part: teacher or evaluator.")
  var only: PretrainPart?

  func run() throws {
    Interruption.install()
    try reportingErrors {
      let (recipe, run) = try options.load()
      // Under mpirun every rank trains its share; rank 0 alone holds the lock, writes and prints.
      let world = Communicator.world
      let log = Output.rootProgress
      try Pretraining.requireSameCommand(recipe, run: run, only: only?.rawValue, world: world)
      try Pretraining.prepareRun(recipe, run: run, world: world, log: log)
      try RunSession.exclusive(run, log: log, world: world) {
        let dataset = try Pretraining.prepareData(recipe, run: run, world: world, log: log)
        if only == nil || only == .teacher {
          let r = try Pretraining.teacher(recipe, run: run, dataset: dataset, world: world, log: log)
          if world.isRoot {
            print("teacher: \(r.model)" + ((r.summary?.validationNLL).map { String(format: "  (validation NLL %.4f)", $0) } ?? ""))
          }
        }
        if only == nil || only == .evaluator,
           let r = try Pretraining.evaluator(recipe, run: run, dataset: dataset, world: world, log: log), world.isRoot {
          print("evaluator: \(r.model)" + ((r.summary?.validationNLL).map { String(format: "  (validation NLL %.4f)", $0) } ?? ""))
        }
        world.waitForAll()
      }
    }
  }
}
