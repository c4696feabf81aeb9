import ArgumentParser
import Distill
import Foundation
import Teacher

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Sample quality, diversity and speed at several step counts: one model (--model) or a whole run (--recipe).",
    discussion: """
      Synthetic data: exact metrics under the source (NLL, forbidden-transition rate, bigram TV, entropy).
      Text: generative perplexity under the project's autoregressive evaluator, and entropy. Every row has
      latency (seconds per sample at the batch size) and tokens/s. With --recipe, evaluates the teacher and
      every round's student and writes report.md, report.json and tradeoff.svg in the run folder.
      """)

  @Option(help: "A model folder.")
  var model: String?

  @Option(help: "A run recipe: evaluate the run's teacher and students (as `pgm distill` does at the end).")
  var recipe: String?

  @Option(help: "The run folder (with --recipe; default runs/<name>).")
  var out: String?

  @Option(help: "Step counts, comma-separated.")
  var steps: String = "8,16,32,64,128"

  @Option(help: "Samples per step count.")
  var samples = 1024

  @Option(help: "Rows per network pass.")
  var batch = 64

  @Option(help: "Evaluation seed (the same for every model compared).")
  var seed: UInt64 = 0

  @Option(help: "The token dataset (default: the one recorded in the model folder).")
  var data: String?

  @Option(help: "The autoregressive evaluator for text (default: the one recorded in the model folder).")
  var evaluator: String?

  @Option(help: "Partition sampler: uniform or non-uniform.")
  var sampler: String = "uniform"

  @Flag(help: "Print one JSON object.")
  var json = false

  func run() throws {
    try reportingErrors {
      if let recipe {
        var r = try Recipe.load(URL(fileURLWithPath: recipe))
        if seed != 0 { r.seed = seed }
        let run = RunFolder(recipe: r, out: out)
        let dataset = try DataPreparation.prepare(r, run: run, log: Output.progress)
        let report = RunReport(recipe: r, run: run, dataset: dataset, log: Output.progress)
        let doc = try report.write(timings: Distillation.recordedTimings(run: run, rounds: r.distill?.rounds ?? 0))
        print(json ? try Output.json(doc) : report.markdown(doc))
        return
      }
      guard let model else { throw ValidationError("give --model DIR or --recipe R") }
      let stepList = try steps.split(separator: ",").map { s -> Int in
        guard let v = Int(s.trimmingCharacters(in: .whitespaces)), v >= 1 else { throw ValidationError("--steps: '\(s)' is not a positive integer") }
        return v
      }
      guard let schedule = PartitionSchedule(rawValue: sampler) else { throw ValidationError("--sampler: uniform or non-uniform") }
      let result = try ModelEvaluation.run(model: URL(fileURLWithPath: model), steps: stepList, samples: samples, batch: batch,
                                           seed: seed, data: data.map { URL(fileURLWithPath: $0) },
                                           evaluator: evaluator.map { URL(fileURLWithPath: $0) }, schedule: schedule,
                                           log: Output.progress)
      if json { print(try Output.json(result)); return }
      for note in result.notes { print("note: \(note)") }
      print(result.valNLL.map { String(format: "validation NLL %.4f nats/token (PPL %.3f)", $0, exp($0)) } ?? "validation NLL: not measured")
      print(TradeoffTable.markdown(result.rows), terminator: "")
    }
  }
}
