import Formats
import Checkpoints
import Corpus
import Engine
import Foundation
import Networks
import Student
import Teacher

/// The trade-off report of a distillation run: the teacher (round 0) and every round's student at
/// the recipe's grid of step counts, on the same evaluation seed. Each (model, steps) row is cached
/// in `<run>/eval/` so an interrupted evaluation resumes; outputs are `report.md`, `report.json`
/// and `tradeoff.svg`.
public struct RunReport {
  public struct ModelEntry: Codable {
    public var name: String
    public var round: Int
    public var path: String
    public var valNLL: Double?
    enum CodingKeys: String, CodingKey { case name, round, path, valNLL = "val_nll" }
  }

  public struct Document: Codable {
    public var name: String
    public var s0: Int
    public var rounds: Int
    public var k: Int
    public var metric: String
    public var models: [ModelEntry]
    public var rows: [EvaluationRow]
    public var timings: [Distillation.RoundTiming]
  }

  public let recipe: Recipe
  public let run: RunFolder
  public let dataset: TokenDataset
  public var log: (String) -> Void

  /// `pgm eval --recipe R --seed N`: another evaluation seed for every model (the run's own seeds,
  /// which name its data and weights, are left alone).
  public var evaluationSeed: UInt64?

  public init(recipe: Recipe, run: RunFolder, dataset: TokenDataset, log: @escaping (String) -> Void) {
    self.recipe = recipe; self.run = run; self.dataset = dataset; self.log = log
  }

  var spec: DistillSpec? { recipe.distill }

  var ledger: RunLedger { RunLedger(run: run, log: log) }
  var cache: EvaluationCache { EvaluationCache(run: run, ledger: ledger) }

  /// (name, round, model folder) of everything the report covers whose training is done (the
  /// teacher must be; students of rounds not trained yet are left out).
  func models() throws -> [(String, Int, URL)] {
    _ = try ledger.require(.teacher)
    var out: [(String, Int, URL)] = [("teacher", 0, run.model(.teacher, .ema))]
    if let spec {
      for r in 1...spec.rounds where ledger.manifest(.student(round: r)) != nil {
        out.append(("round \(r)", r, run.model(.student(round: r), spec.evaluate)))
      }
    }
    return out
  }

  static func phase(round: Int) -> RunPhase { round == 0 ? .teacher : .student(round: round) }

  func measure() throws -> QualityMeasure {
    if dataset.attributes.kind == .synthetic { return .markov(try dataset.markovSource()) }
    let evaluatorDir = run.model(.evaluator, .ema)
    if ledger.manifest(.evaluator) != nil {
      _ = try ledger.require(.evaluator)
      let ar = try ModelFolder.load(evaluatorDir).requireAutoregressive("the run's evaluator")
      return .evaluator(ar, eos: dataset.attributes.eosId)
    }
    return .none
  }

  /// Evaluates what is missing and writes the three report files.
  public func write(timings: [Distillation.RoundTiming]) throws -> Document {
    let measure = try measure()
    let metric = measure.metricName
    let measureIdentity = try cache.measure(measure)
    let e = recipe.eval
    let evaluation = SampleEvaluation(measure: measure, samples: e.samples, batch: e.batch, bos: dataset.attributes.bosId)
    let seed = evaluationSeed ?? recipe.seed(for: "evaluation")
    var rows: [EvaluationRow] = []
    var entries: [ModelEntry] = []
    let models = try models()
    let usable = e.steps.filter { dataset.length % $0 == 0 || e.sampler == .nonUniform }
    if usable.count < e.steps.count {
      log("eval: skipping step counts that do not divide L = \(dataset.length) (uniform sampler): \(Set(e.steps).subtracting(usable).sorted())")
    }
    let meter = ProgressMeter(label: "evaluation", total: models.count * usable.count, unit: "rows", sink: log)
    var done = 0
    for (name, round, dir) in models {
      // The weights are checked against their phase's manifest before anything is measured.
      let identity = try cache.model(dir, phase: Self.phase(round: round))
      let network = try ModelFolder.load(dir).requireDenoiser("the report")
      let slug = round == 0 ? "teacher" : "round-\(round)"
      let valConsumed = identity.merging(["seed": String(recipe.seed(for: "validation")), "measure": "validation " + (try ledger.identity(of: .data))]) { $1 }
      entries.append(ModelEntry(name: name, round: round, path: dir.path, valNLL: try cache.validation(run.validationRow(slug), consumed: valConsumed) {
        try ValidationSplit.nll(network.network, dataset, seed: recipe.seed(for: "validation"))
      }))
      for steps in usable {
        let variant = SamplerVariant(schedule: e.sampler)
        let consumed = identity.merging(try EvaluationCache.settings(steps: steps, samples: e.samples, batch: e.batch, seed: seed, variant: variant)) { $1 }
          .merging(["measure": measureIdentity, "name": name]) { $1 }
        rows.append(try cache.row(run.evaluationRow(slug, steps: steps), consumed: consumed) {
          try evaluation.evaluate(network, name: name, round: round, steps: steps, variant: variant, seed: seed)
        })
        done += 1
        meter.update(done, detail: "\(name), \(steps) steps")
      }
    }
    let doc = Document(name: recipe.name, s0: spec?.s0 ?? 0, rounds: spec?.rounds ?? 0, k: spec?.k ?? 2, metric: metric,
                       models: entries, rows: rows, timings: timings)
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFile.write(try enc.encode(doc), to: run.reportJSON)
    try AtomicFile.write(Data(markdown(doc).utf8), to: run.report)
    try AtomicFile.write(Data(plot(doc).utf8), to: run.plot)
    return doc
  }

  // MARK: - outputs

  public func markdown(_ d: Document) -> String {
    var s = "# \(d.name): SDTT trade-offs\n\n"
    if d.rounds > 0 {
      s += "Teacher sampled at S0 = \(d.s0) steps; \(d.rounds) rounds of \(d.k) teacher steps per student step "
      s += "(round r: \(d.s0) / \(d.k)^r steps). Every row: \(recipe.eval.samples) samples, the same evaluation seed for every model, "
      s += "batch \(recipe.eval.batch). ± is one standard error.\n\n"
    }
    s += TradeoffTable.markdown(d.rows)
    s += "\nValidation NLL (nats/token, ELBO bound on held-out rows): "
    s += d.models.map { m in "\(m.name) \(m.valNLL.map { String(format: "%.4f", $0) } ?? "–")" }.joined(separator: ", ") + "\n"
    if !d.timings.isEmpty {
      s += "\nTime per round (this machine): "
      s += d.timings.map { String(format: "round %d: targets %.0f s, student %.0f s", $0.round, $0.targetSeconds, $0.trainingSeconds) }
        .joined(separator: "; ") + "\n"
    }
    s += "\nPlot: `tradeoff.svg` (\(d.metric) against steps and against seconds per sample).\n"
    return s
  }

  public func plot(_ d: Document) -> String {
    var order: [String] = []
    for r in d.rows where !order.contains(r.model) { order.append(r.model) }
    let series = order.map { name in
      TradeoffPlot.Series(name: name, points: d.rows.filter { $0.model == name }.compactMap { r in
        r.headline.map { (Double(r.steps), r.latencySeconds, $0.value, $0.se) }
      })
    }
    return TradeoffPlot.svg(series: series, metric: d.metric, title: "\(d.name): \(d.metric) vs steps and latency")
  }
}
