import ArgumentParser
import Distill
import Foundation
import Formats
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

  @Option(parsing: .unconditional, help: "Step counts, comma-separated positive integers.", transform: { argument in
    guard let steps = StepCounts(argument: argument) else {
      throw ValidationError("--steps takes positive integers separated by commas, e.g. 8,16,32 (got '\(argument)')")
    }
    return steps
  })
  var steps = StepCounts([8, 16, 32, 64, 128])

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
  var sampler: PartitionSchedule = .uniform

  @Option(help: "Which positions a step reveals: random or confidence.")
  var order: RevealOrder = .random

  @Option(help: "Nucleus filtering mass (1 = off).")
  var topP: Double = 1

  @Option(help: "Divide the logits by this before filtering and drawing (1 = off).")
  var temperature: Double = 1

  @Flag(help: "The final reveal of each sample takes the argmax.")
  var greedyTail = false

  @Option(help: "Noise-conditioned students: σ ~ U(0, NOISE) per sample and step (kept by --all-samplers).")
  var noise: Double = 0

  @Flag(help: "Students distilled with seed tokens: the first step reads a random token at every unknown position (kept by --all-samplers).")
  var seedTokens = false

  @Flag(help: "Every free sampler variant (plain, nucleus 0.95/0.9/0.8, greedy tail, confidence order, combinations, non-uniform, temperature 0.9/1.1) instead of the one the options above describe.")
  var allSamplers = false

  @Flag(help: "Print one JSON object.")
  var json = false

  func validate() throws {
    if model == nil && recipe == nil { throw ValidationError("give --model DIR or --recipe R") }
    if model != nil && recipe != nil { throw ValidationError("give --model DIR or --recipe R, not both") }
    if out != nil && recipe == nil { throw ValidationError("--out goes with --recipe") }
    if samples < 1 || batch < 1 { throw ValidationError("--samples and --batch must be at least 1") }
    if !(temperature > 0 && temperature.isFinite) { throw ValidationError("--temperature must be a finite number > 0 (got \(temperature))") }
  }

  func run() throws {
    try reportingErrors {
      if let recipe {
        let r = try Recipe.load(URL(fileURLWithPath: recipe))
        let run = RunFolder(recipe: r, out: out)
        try RunPreflight.check(r, run: run, needsDistill: false)
        Interruption.install()
        try RunSession.exclusive(run, log: Output.progress) {
          // The recipe may change its `eval` section (steps, samples, sampler), nothing that made the run.
          try MainJob.checkRecipe(r, matches: run, exceptEval: true)
          let dataset = try DataPreparation.prepare(r, run: run, log: Output.progress)
          var report = RunReport(recipe: r, run: run, dataset: dataset, log: Output.progress)
          if seed != 0 { report.evaluationSeed = seed }
          let doc = try report.write(timings: Distillation.recordedTimings(run: run, rounds: r.distill?.rounds ?? 0))
          print(json ? try Output.json(doc) : report.markdown(doc))
        }
        return
      }
      guard let model else { return }
      let result = try ModelEvaluation.run(model: URL(fileURLWithPath: model), steps: steps.values, samples: samples, batch: batch,
                                           seed: seed, data: data.map { URL(fileURLWithPath: $0) },
                                           evaluator: evaluator.map { URL(fileURLWithPath: $0) },
                                           variants: allSamplers
                                             ? SamplerVariant.freeGrid.map { var v = $0; v.noise = noise; v.seedTokens = seedTokens; return v }
                                             : [SamplerVariant(schedule: sampler, order: order, topP: topP, greedyTail: greedyTail, noise: noise,
                                                               temperature: temperature, seedTokens: seedTokens)],
                                           log: Output.progress)
      if json { print(try Output.json(result)); return }
      for note in result.notes { print("note: \(note)") }
      print(result.valNLL.map { String(format: "validation NLL %.4f nats/token (PPL %.3f)", $0, exp($0)) } ?? "validation NLL: not measured")
      print(TradeoffTable.markdown(result.rows), terminator: "")
    }
  }
}
