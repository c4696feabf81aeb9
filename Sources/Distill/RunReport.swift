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
    /// Each round's student against the teacher's best free sampler at its step count.
    public var comparisons: [SamplerComparison]
    public var referenceEntropy: Double
    public var timings: [Distillation.RoundTiming]
    enum CodingKeys: String, CodingKey {
      case name, s0, rounds, k, metric, models, rows, comparisons, referenceEntropy = "reference_entropy", timings
    }
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

  /// The sampler a model is meant to be sampled with: the recipe's schedule, plus the noise input
  /// of noise-conditioned students.
  func defaultVariant(round: Int) -> SamplerVariant {
    studentInputs(SamplerVariant(schedule: recipe.eval.sampler), round: round)
  }

  /// Every free variant for a model of `round` (students keep their noise and seed inputs).
  func freeVariants(round: Int) -> [SamplerVariant] {
    SamplerVariant.freeGrid.map { studentInputs($0, round: round) }
  }

  private func studentInputs(_ v: SamplerVariant, round: Int) -> SamplerVariant {
    round == 0 ? v : (spec?.studentSampler(v) ?? v)
  }

  /// Evaluates what is missing and writes the three report files: every model at every step count
  /// of the recipe with its own sampler (the trade-off curves), and at each round's student step
  /// count the teacher and that student with every free sampler variant (the honest comparison).
  public func write(timings: [Distillation.RoundTiming]) throws -> Document {
    let measure = try measure()
    let metric = measure.metricName
    let measureIdentity = try cache.measure(measure)
    let e = recipe.eval
    let evaluation = SampleEvaluation(measure: measure, samples: e.samples, batch: e.batch, bos: dataset.attributes.bosId)
    let seed = evaluationSeed ?? recipe.seed(for: "evaluation")
    let models = try models()
    func usable(_ steps: Int, _ variant: SamplerVariant) -> Bool { dataset.length % steps == 0 || variant.schedule == .nonUniform }
    // What to evaluate: (model index, steps, variant), without repeats.
    var plan: [(model: Int, steps: Int, variant: SamplerVariant)] = []
    func add(_ m: Int, _ steps: Int, _ variant: SamplerVariant) {
      guard usable(steps, variant), !plan.contains(where: { $0.model == m && $0.steps == steps && $0.variant == variant }) else { return }
      plan.append((m, steps, variant))
    }
    for (m, model) in models.enumerated() { for steps in e.steps { add(m, steps, defaultVariant(round: model.1)) } }
    let skipped = e.steps.filter { !usable($0, SamplerVariant(schedule: e.sampler)) }
    if !skipped.isEmpty { log("eval: skipping step counts that do not divide L = \(dataset.length) (uniform sampler): \(skipped)") }
    let studentRounds = models.filter { $0.1 > 0 }.map(\.1)
    for r in studentRounds {
      let steps = spec!.studentSteps(round: r)
      for variant in freeVariants(round: 0) { add(0, steps, variant) }
      if let m = models.firstIndex(where: { $0.1 == r }) { for variant in freeVariants(round: r) { add(m, steps, variant) } }
    }

    let meter = ProgressMeter(label: "evaluation", total: plan.count, unit: "rows", sink: log)
    var rows: [EvaluationRow] = []
    var entries: [ModelEntry] = []
    var loaded: [Int: Denoiser] = [:]
    var identities: [Int: [String: String]] = [:]
    for (m, (name, round, dir)) in models.enumerated() {
      // The weights are checked against their phase's manifest before anything is measured.
      let identity = try cache.model(dir, phase: Self.phase(round: round))
      identities[m] = identity
      let network = try ModelFolder.load(dir).requireDenoiser("the report")
      loaded[m] = network
      let slug = round == 0 ? "teacher" : "round-\(round)"
      let valConsumed = identity.merging(["seed": String(recipe.seed(for: "validation")), "measure": "validation " + (try ledger.identity(of: .data))]) { $1 }
      entries.append(ModelEntry(name: name, round: round, path: dir.path, valNLL: try cache.validation(run.validationRow(slug), consumed: valConsumed) {
        try ValidationSplit.nll(network.network, dataset, seed: recipe.seed(for: "validation"))
      }))
    }
    for (done, item) in plan.enumerated() {
      let (name, round, _) = models[item.model]
      let slug = round == 0 ? "teacher" : "round-\(round)"
      let consumed = identities[item.model]!
        .merging(try EvaluationCache.settings(steps: item.steps, samples: e.samples, batch: e.batch, seed: seed, variant: item.variant)) { $1 }
        .merging(["measure": measureIdentity, "name": name]) { $1 }
      let isDefault = item.variant == defaultVariant(round: round)
      rows.append(try cache.row(run.evaluationRow(slug, steps: item.steps, variant: isDefault ? nil : item.variant.description),
                                consumed: consumed) {
        try evaluation.evaluate(loaded[item.model]!, name: name, round: round, steps: item.steps, variant: item.variant, seed: seed)
      })
      meter.update(done + 1, detail: "\(name), \(item.steps) steps, \(item.variant)")
    }
    let reference = try referenceEntropy(rows)
    let comparisons = studentRounds.map { r in
      SamplerComparison.compare(rows, steps: spec!.studentSteps(round: r), round: r, referenceEntropy: reference)
    }
    let doc = Document(name: recipe.name, s0: spec?.s0 ?? 0, rounds: spec?.rounds ?? 0, k: spec?.k ?? 2, metric: metric,
                       models: entries, rows: rows, comparisons: comparisons, referenceEntropy: reference, timings: timings)
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try AtomicFile.write(try enc.encode(doc), to: run.reportJSON)
    try AtomicFile.write(Data(markdown(doc).utf8), to: run.report)
    try AtomicFile.write(Data(plot(doc).utf8), to: run.plot)
    return doc
  }

  /// The diversity the samples should keep: the source's per-sample entropy (synthetic), else the
  /// validation rows'.
  func referenceEntropy(_ rows: [EvaluationRow]) throws -> Double {
    for r in rows { if case .markov(let m) = r.quality { return m.sourceEntropy } }
    return try dataset.validationEntropy() ?? 0
  }

  // MARK: - outputs

  public func markdown(_ d: Document) -> String {
    var s = "# \(d.name): distillation trade-offs (\(spec?.method.rawValue ?? "no distillation"))\n\n"
    if d.rounds > 0 {
      s += "Teacher sampled at S0 = \(d.s0) steps; \(d.rounds) rounds of \(d.k) teacher steps per student step "
      s += "(round r: \(d.s0) / \(d.k)^r steps). Every row: \(recipe.eval.samples) samples, the same evaluation seed for every model, "
      s += "batch \(recipe.eval.batch). ± is one standard error.\n\n"
    }
    s += SamplerComparison.markdown(d.comparisons, metric: d.metric)
    s += "## Every evaluation\n\n"
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
    // Curves: each model with its own sampler.
    let series = order.map { name in
      TradeoffPlot.Series(name: name, points: d.rows.filter { $0.model == name && $0.sampler == defaultVariant(round: $0.round ?? 0) }
        .compactMap { r in r.headline.map { (Double(r.steps), r.latencySeconds, $0.value, $0.se) } })
    }
    // The frontier at the last student's step count.
    var frontier: TradeoffPlot.Frontier?
    if let last = d.comparisons.last {
      func points(_ rows: [EvaluationRow]) -> [(label: String, entropy: Double, value: Double, se: Double)] {
        rows.compactMap { r in r.headline.map { ("\(r.model), \(r.sampler)", r.entropy, $0.value, $0.se) } }
      }
      let at = d.rows.filter { $0.steps == last.steps }
      frontier = TradeoffPlot.Frontier(steps: last.steps, entropyFloor: last.referenceEntropy - last.entropyTolerance,
                                       teacher: points(at.filter { $0.round == 0 }), students: points(at.filter { ($0.round ?? 0) > 0 }))
    }
    return TradeoffPlot.svg(series: series, metric: d.metric, title: "\(d.name): \(d.metric) vs steps, latency and diversity",
                            frontier: frontier)
  }
}
