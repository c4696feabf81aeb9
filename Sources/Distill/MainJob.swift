import Formats
import Checkpoints
import Corpus
import Engine
import Foundation
import Networks
import Student

/// `pgm distill`, end to end: data → teacher pretraining → (text) evaluator → R SDTT rounds →
/// trade-off report → export of the last student. Each phase resumes where it stopped.
public enum MainJob {
  public struct Summary {
    public var report: RunReport.Document
    public var reportPath: String
    public var plotPath: String
    /// The exported student; nil when the network cannot be exported for the reference code
    /// (`exportNote` says why).
    public var exportPath: String?
    public var exportNote: String?
    public var markdown: String
    public var seconds: Double
  }

  public static func run(_ recipe: Recipe, folder run: RunFolder, log: @escaping (String) -> Void) throws -> Summary {
    let start = Clock.now()
    try run.create()
    try checkRecipeCopy(recipe, run: run)
    let dataset = try DataPreparation.prepare(recipe, run: run, log: log)
    // Checked against the data before any training, so an impossible recipe fails at once.
    let distillation = try Distillation(recipe: recipe, run: run, dataset: dataset, log: log)
    // A network the reference cannot load still trains and is evaluated; the export is skipped
    // with the reason, said now and in the summary, rather than failing the run at its end.
    var exportNote: String?
    do {
      try ModelExport.check(try recipe.model.config(vocabularySize: dataset.vocabularySize, length: dataset.length))
    } catch let error as ExportError {
      exportNote = "\(error); the student will not be exported"
      log("warning: " + exportNote!)
    }
    _ = try Pretraining.teacher(recipe, run: run, dataset: dataset, log: log)
    _ = try Pretraining.evaluator(recipe, run: run, dataset: dataset, log: log)
    let timings = try distillation.distill()
    let report = RunReport(recipe: recipe, run: run, dataset: dataset, log: log)
    let doc = try report.write(timings: timings)
    let export = exportNote == nil
      ? try exportStudent(round: distillation.spec.rounds, run: run, report: doc, recipe: recipe, log: log) : nil
    return Summary(report: doc, reportPath: run.report.path, plotPath: run.plot.path, exportPath: export?.path,
                   exportNote: exportNote, markdown: report.markdown(doc), seconds: Clock.now() - start)
  }

  /// The recipe a run folder was started with is kept; resuming with a different one is refused
  /// (its outputs would silently mix two experiments).
  static func checkRecipeCopy(_ recipe: Recipe, run: RunFolder) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try enc.encode(recipe)
    if let old = try? Data(contentsOf: run.recipeCopy) {
      guard old == data else {
        throw RecipeError.invalid(recipe.name, "\(run.root.path) was started with a different recipe (or --seed); "
                                    + "use another --out, or remove the folder to start over")
      }
      return
    }
    try AtomicFile.write(data, to: run.recipeCopy)
  }

  /// Exports round R's student (the weights the report evaluated) with its trade-off rows, the
  /// ids and source of its data, and how it was distilled (`ModelExporting`).
  public static func exportStudent(round r: Int, run: RunFolder, report: RunReport.Document?, recipe: Recipe?,
                                   to out: URL? = nil, log: (String) -> Void = { _ in }) throws -> URL {
    let spec = recipe?.distill
    let weights = spec?.evaluate ?? .ema
    let source = TrainingFiles(directory: run.student(round: r)).model(weights)
    guard FileManager.default.fileExists(atPath: source.appendingPathComponent(ModelFolder.weightsFile).path) else {
      throw RecipeError.invalid("export", "round \(r) has no trained student in \(run.root.path)")
    }
    let destination = out ?? run.export
    var card = ModelCard(title: "\(recipe?.name ?? run.root.lastPathComponent) — \(spec?.method.rawValue.uppercased() ?? "SDTT") round \(r) student",
                         summary: spec.map { "Distilled with \($0.method.rawValue.uppercased()) from a \($0.s0)-step teacher in \(r) rounds of \($0.k) teacher steps per student step: samples in \($0.studentSteps(round: r)) steps." },
                         source: source.path)
    if let report {
      let rows = report.rows.filter { ($0.round == r || $0.round == 0) && $0.sampler.order == .random && $0.sampler.topP == 1
        && !$0.sampler.greedyTail && $0.sampler.schedule == (recipe?.eval.sampler ?? .uniform) }
      var markdown = "Measured by this run's report (`\(run.reportJSON.path)`), \(report.metric) as the quality measure:\n\n"
        + TradeoffTable.markdown(rows)
      let nll = report.models.filter { $0.round == r || $0.round == 0 }.compactMap { m in
        m.valNLL.map { String(format: "%@ %.4f", m.name, $0) }
      }
      if !nll.isEmpty { markdown += "\nValidation NLL (nats/token): " + nll.joined(separator: ", ") + ".\n" }
      card.sections.append(ModelCard.Section(title: "Trade-offs (this student and its original teacher)", markdown: markdown))
      let comparison = report.comparisons.filter { $0.round == r }
      if !comparison.isEmpty {
        card.sections.append(ModelCard.Section(title: "Against the teacher's best free sampler",
                                               markdown: SamplerComparison.markdown(comparison, metric: report.metric)
                                                 .replacingOccurrences(of: "## Against the teacher's best free sampler\n\n", with: "")))
      }
      if let noise = spec?.studentNoise, noise > 0 {
        card.sections.append(ModelCard.Section(title: "Sampling this student", markdown:
          "It was distilled with a noise input: sample it with `pgm sample --noise \(noise)` (each row draws σ ~ U(0, \(noise)) at every step "
          + "and feeds it through the time conditioning). The reference's samplers pass σ = 0, which gives a noise-free, lower-quality sampler."))
      }
    }
    try ModelExporting.export(modelFolder: source, to: destination, card: card, recipe: recipe, round: r, log: log)
    return destination
  }
}
