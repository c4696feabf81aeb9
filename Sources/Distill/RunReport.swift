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

  public init(recipe: Recipe, run: RunFolder, dataset: TokenDataset, log: @escaping (String) -> Void) {
    self.recipe = recipe; self.run = run; self.dataset = dataset; self.log = log
  }

  var spec: DistillSpec? { recipe.distill }

  /// (name, round, model folder) of everything the report covers that exists on disk.
  func models() -> [(String, Int, URL)] {
    var out: [(String, Int, URL)] = [("teacher", 0, run.teacher.appendingPathComponent(TrainingFiles.averageFolder))]
    if let spec {
      for r in 1...spec.rounds {
        let dir = TrainingFiles(directory: run.student(round: r)).model(spec.evaluate)
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent(ModelFolder.weightsFile).path) {
          out.append(("round \(r)", r, dir))
        }
      }
    }
    return out
  }

  func measure() throws -> QualityMeasure {
    if dataset.attributes.kind == .synthetic { return .markov(try dataset.markovSource()) }
    let evaluatorDir = run.evaluator.appendingPathComponent(TrainingFiles.averageFolder)
    if FileManager.default.fileExists(atPath: evaluatorDir.appendingPathComponent(ModelFolder.weightsFile).path) {
      let ar = try ModelFolder.load(evaluatorDir).requireAutoregressive("the run's evaluator")
      return .evaluator(ar, eos: dataset.attributes.eosId)
    }
    return .none
  }

  /// Evaluates what is missing and writes the three report files.
  public func write(timings: [Distillation.RoundTiming]) throws -> Document {
    let measure = try measure()
    let metric = measure.metricName
    let evalDir = run.root.appendingPathComponent("eval")
    try FileManager.default.createDirectory(at: evalDir, withIntermediateDirectories: true)
    let e = recipe.eval
    let evaluation = SampleEvaluation(measure: measure, samples: e.samples, batch: e.batch, bos: dataset.attributes.bosId)
    let seed = recipe.seed(for: "evaluation")
    var rows: [EvaluationRow] = []
    var entries: [ModelEntry] = []
    let models = models()
    let usable = e.steps.filter { dataset.length % $0 == 0 || e.sampler == .nonUniform }
    if usable.count < e.steps.count {
      log("eval: skipping step counts that do not divide L = \(dataset.length) (uniform sampler): \(Set(e.steps).subtracting(usable).sorted())")
    }
    let meter = ProgressMeter(label: "evaluation", total: models.count * usable.count, unit: "rows", sink: log)
    var done = 0
    for (name, round, dir) in models {
      let network = try ModelFolder.load(dir).requireDenoiser("the report")
      let slug = round == 0 ? "teacher" : "round-\(round)"
      entries.append(ModelEntry(name: name, round: round, path: dir.path, valNLL: try validationNLL(network.network, cache: evalDir.appendingPathComponent("\(slug)-val.json"))))
      for steps in usable {
        let cache = evalDir.appendingPathComponent("\(slug)-steps-\(steps).json")
        if let data = try? Data(contentsOf: cache), let row = try? JSONDecoder().decode(EvaluationRow.self, from: data),
           row.samples == e.samples {
          rows.append(row)
        } else {
          let row = try evaluation.evaluate(network, name: name, round: round, steps: steps,
                                            variant: SamplerVariant(schedule: e.sampler), seed: seed)
          try AtomicFile.write(try JSONEncoder().encode(row), to: cache)
          rows.append(row)
        }
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

  /// Validation NLL of a model (cached): the partition / MDLM ELBO bound on held-out rows.
  func validationNLL(_ network: Network, cache: URL) throws -> Double? {
    if let data = try? Data(contentsOf: cache), let v = try? JSONDecoder().decode([String: Double].self, from: data) {
      return v["val_nll"]
    }
    let v = try ValidationSplit.nll(network, dataset, seed: recipe.seed(for: "validation"))
    if let v { try AtomicFile.write(try JSONEncoder().encode(["val_nll": v]), to: cache) }
    return v
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
