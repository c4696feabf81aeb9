import Formats
import Checkpoints
import Cluster
import Corpus
import Engine
import Foundation
import Networks
import Student
import Teacher

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

  /// Runs the job; in an mpirun job (`world`) every rank calls it, the work of the long phases is
  /// shared, and rank 0 alone writes the run folder, evaluates and reports: the other ranks return nil.
  public static func run(_ recipe: Recipe, folder run: RunFolder, log: @escaping (String) -> Void) throws -> Summary {
    try self.run(recipe, folder: run, world: .single, log: log)!
  }

  public static func run(_ recipe: Recipe, folder run: RunFolder, world: Communicator,
                         log: @escaping (String) -> Void) throws -> Summary? {
    let start = Clock.now()
    try world.requireSame([try FileDigest.sha256(json: recipe), run.root.standardizedFileURL.path], what: "recipe, --seed or --out")
    // Everything that can be checked without the data, before the folder is touched.
    _ = try world.rootOnly { () -> Bool in
      try RunPreflight.check(recipe, run: run, needsDistill: true, processes: world.size)
      return true
    }
    return try RunSession.exclusive(run, log: log, world: world) {
      var prepared: (TokenDataset, Distillation)?
      _ = try world.rootOnly { () -> Bool in
        try checkRecipeCopy(recipe, run: run, write: false)
        let dataset = try DataPreparation.prepare(recipe, run: run, log: log)
        // Checked against the data before any training, so an impossible recipe fails at once
        // (and leaves no recipe.json behind to block the corrected one).
        let distillation = try Distillation(recipe: recipe, run: run, dataset: dataset, log: log)
        try RunPreflight.check(recipe, run: run, dataset: dataset)
        try checkRecipeCopy(recipe, run: run, write: true)
        prepared = (dataset, distillation)
        return true
      }
      if prepared == nil {
        let dataset = try DataPreparation.open(recipe, run: run)
        prepared = (dataset, try Distillation(recipe: recipe, run: run, dataset: dataset, log: log))
      }
      var distillation = prepared!.1
      distillation.world = world
      return try runPhases(recipe, run: run, dataset: prepared!.0, distillation: distillation, start: start, world: world, log: log)
    }
  }

  static func runPhases(_ recipe: Recipe, run: RunFolder, dataset: TokenDataset, distillation: Distillation, start: Double,
                        world: Communicator = .single, log: @escaping (String) -> Void) throws -> Summary? {
    // A network the reference cannot load still trains and is evaluated; the export is skipped
    // with the reason, said now and in the summary, rather than failing the run at its end.
    var exportNote: String?
    do {
      try ModelExport.check(try recipe.model.config(vocabularySize: dataset.vocabularySize, length: dataset.length))
    } catch let error as ExportError {
      exportNote = "\(error); the student will not be exported"
      log("warning: " + exportNote!)
    }
    _ = try Pretraining.teacher(recipe, run: run, dataset: dataset, world: world, log: log)
    _ = try Pretraining.evaluator(recipe, run: run, dataset: dataset, world: world, log: log)
    let timings = try distillation.distill()
    // The report and the export are rank 0's; the other ranks wait for it without using the cores.
    guard world.isRoot else {
      world.waitForAll()
      return nil
    }
    defer { world.waitForAll() }
    let report = RunReport(recipe: recipe, run: run, dataset: dataset, log: log)
    let doc = try report.write(timings: timings)
    let export = exportNote == nil ? try exportRun(round: distillation.spec.rounds, run: run, report: doc, recipe: recipe, log: log) : nil
    log(String(format: "integrity checks: %.1f MB of files and %d target rows hashed in %.2f s", Double(FileDigest.bytesHashed) / 1e6,
               FileDigest.rowsHashed, FileDigest.secondsHashing))
    return Summary(report: doc, reportPath: run.report.path, plotPath: run.plot.path, exportPath: export?.path,
                   exportNote: exportNote, markdown: report.markdown(doc), seconds: Clock.now() - start)
  }

  /// The recipe a run folder was started with is kept; resuming with a different one is refused
  /// (its outputs would silently mix two experiments).
  static func checkRecipeCopy(_ recipe: Recipe, run: RunFolder, write: Bool) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try enc.encode(recipe)
    if FileManager.default.fileExists(atPath: run.recipeCopy.path) {
      let old = try FileError.wrap(run.recipeCopy.path, "read") { try Data(contentsOf: run.recipeCopy) }
      guard old != data else { return }
      guard let stored = try? JSONDecoder().decode(Recipe.self, from: old) else {
        throw RunFolderError.unreadable(file: run.recipeCopy.path, detail: "is damaged (not a recipe)",
                                        advice: "remove it (the next run writes it again; finished phases are kept when their manifests match)")
      }
      let differs = RecipeDifference.fields(stored, recipe)
      throw RecipeError.invalid(recipe.name, "\(run.root.path) was started with a different recipe (or --seed): "
                                  + "\(differs.isEmpty ? "it differs" : differs.joined(separator: ", ") + " differ"); "
                                  + "use another --out, or remove the folder to start over")
    }
    if write { try AtomicFile.write(data, to: run.recipeCopy) }
  }

  /// For commands that only read a run (`pgm eval --recipe`): refuses a recipe that differs from the
  /// one the run was made with (so that no phase is redone under other inputs), except, with
  /// `exceptEval`, in its `eval` section.
  public static func checkRecipe(_ recipe: Recipe, matches run: RunFolder, exceptEval: Bool) throws {
    guard FileManager.default.fileExists(atPath: run.recipeCopy.path) else { return }
    var r = recipe
    if exceptEval, let data = try? Data(contentsOf: run.recipeCopy), let stored = try? JSONDecoder().decode(Recipe.self, from: data) {
      r.eval = stored.eval
    }
    try checkRecipeCopy(r, run: run, write: false)
  }

  /// The export phase of a run: round R's student into `<run>/export`, recorded in a manifest.
  static func exportRun(round r: Int, run: RunFolder, report: RunReport.Document, recipe: Recipe,
                        log: @escaping (String) -> Void) throws -> URL {
    let ledger = RunLedger(run: run, log: log)
    let choice = recipe.distill?.evaluate ?? .ema
    let rows = report.rows.filter { $0.round == r || $0.round == 0 }
    let consumed = ["phase:student": try ledger.identity(of: .student(round: r)), "weights": choice.rawValue,
                    "rows": try FileDigest.sha256(json: rows)]
    try ledger.ensure(.export, consumed: consumed) {
      if FileManager.default.fileExists(atPath: run.export.path) {
        try FileError.wrap(run.export.path, "remove") { try FileManager.default.removeItem(at: run.export) }
      }
      _ = try exportStudent(round: r, run: run, report: report, recipe: recipe, log: log)
      return [run.export]
    }
    return run.export
  }

  /// Exports round R's student (the weights the report evaluated) with its trade-off rows, the
  /// ids and source of its data, and how it was distilled (`ModelExporting`).
  public static func exportStudent(round r: Int, run: RunFolder, report: RunReport.Document?, recipe: Recipe?,
                                   to out: URL? = nil, log: (String) -> Void = { _ in }) throws -> URL {
    let spec = recipe?.distill
    let weights = spec?.evaluate ?? .ema
    let source = run.model(.student(round: r), weights)
    let ledger = RunLedger(run: run, log: { _ in })
    guard ledger.manifest(.student(round: r)) != nil else {
      throw RecipeError.invalid("export", "round \(r) has no trained student in \(run.root.path)")
    }
    // Exported only after its files are checked against the manifest of the phase that wrote them.
    _ = try ledger.require(.student(round: r))
    let destination = out ?? run.export
    var card = ModelCard(title: "\(recipe?.name ?? run.root.lastPathComponent) — \(spec?.method.rawValue.uppercased() ?? "SDTT") round \(r) student",
                         summary: spec.map { "Distilled with \($0.method.rawValue.uppercased()) from a \($0.s0)-step teacher in \(r) rounds of \($0.k) teacher steps per student step: samples in \($0.studentSteps(round: r)) steps." },
                         source: source.path)
    if let report {
      // Each model's rows with the recipe's own sampler (a student keeps its noise and seed inputs).
      let rows = report.rows.filter { row in
        var own = SamplerVariant(schedule: recipe?.eval.sampler ?? .uniform)
        own.noise = row.sampler.noise
        own.seedTokens = row.sampler.seedTokens
        return (row.round == r || row.round == 0) && row.sampler == own
      }
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
      if let inputs = spec?.studentSampler(.plain), inputs.noise > 0 || inputs.seedTokens {
        var flags: [String] = [], why: [String] = []
        if inputs.noise > 0 {
          flags.append("--noise \(inputs.noise)")
          why.append("each row draws σ ~ U(0, \(inputs.noise)) at every step and feeds it through the time conditioning")
        }
        if inputs.seedTokens {
          flags.append("--seed-tokens")
          why.append("the first step reads a uniformly random token at every unknown position, with σ = −1")
        }
        card.sections.append(ModelCard.Section(title: "Sampling this student", markdown:
          "It was distilled with latent inputs: sample it with `pgm sample \(flags.joined(separator: " "))` (\(why.joined(separator: "; "))). "
          + "The reference's samplers pass σ = 0 and no seeds, which gives a latent-free, lower-quality sampler."))
      }
    }
    try ModelExporting.export(modelFolder: source, to: destination, card: card, recipe: recipe, round: r, log: log)
    return destination
  }
}
