import Foundation

/// Why `pgm compare` cannot read a run: the run folder (or file) and what to do.
public struct ComparisonError: Error, CustomStringConvertible {
  public let description: String
  init(_ path: String, _ message: String) { description = "\(path): \(message)" }
}

/// The honest comparison of several finished runs side by side (`pgm compare RUN…`): typically one
/// recipe on several seeds, since a distillation result is worth something only if it holds on
/// seeds it was not tuned on. Reads each run's `report.json` (its "Against the teacher's best free
/// sampler" comparisons) and `recipe.json` (name and seed); writes nothing.
public struct SeedComparison {
  /// One run's comparison at one step count.
  public struct Line: Codable, Sendable {
    public var run: String
    public var recipe: String
    public var seed: UInt64
    public var comparison: SamplerComparison
  }

  /// Over the runs of one recipe at one step count.
  public struct Summary: Codable, Sendable {
    public var recipe: String
    public var steps: Int
    public var runs: Int
    /// Runs whose student had no sampler variant above the entropy line (no gain to count).
    public var noneEligible: Int
    /// Mean gain over the runs with one, and its standard error across runs (nil for fewer than 2).
    public var meanGain: Double?
    public var meanGainSE: Double?
    public var minimumGain: Double?
    /// Runs at or above `goal` (a run without an eligible student counts as missing it).
    public var goal: Double?
    public var reachingGoal: Int?

    enum CodingKeys: String, CodingKey {
      case recipe, steps, runs, noneEligible = "none_eligible", meanGain = "mean_gain", meanGainSE = "mean_gain_se"
      case minimumGain = "minimum_gain", goal, reachingGoal = "reaching_goal"
    }
  }

  public var lines: [Line]
  public var metric: String

  /// Reads the runs' reports; every failure names the run folder and what to do.
  public init(runs: [URL]) throws {
    guard !runs.isEmpty else { throw ComparisonError("compare", "give at least one run folder") }
    var lines: [Line] = []
    var metric: String?
    for run in runs {
      let report = run.appendingPathComponent("report.json"), recipeFile = run.appendingPathComponent("recipe.json")
      guard FileManager.default.fileExists(atPath: report.path) else {
        throw ComparisonError(run.path, "has no report.json (the run has not finished its evaluation; `pgm distill` or `pgm eval --recipe` with the same recipe writes it)")
      }
      let document: RunReport.Document
      do { document = try JSONDecoder().decode(RunReport.Document.self, from: Data(contentsOf: report)) } catch {
        throw ComparisonError(report.path, "is not a report this version reads (\(error)); rerun `pgm eval --recipe` to rewrite it")
      }
      let recipe = try Recipe.load(recipeFile)
      if let metric, metric != document.metric {
        throw ComparisonError(run.path, "measures '\(document.metric)', the runs before it '\(metric)': compare runs of one kind of data")
      }
      metric = document.metric
      lines += document.comparisons.map { Line(run: run.path, recipe: recipe.name, seed: recipe.seed, comparison: $0) }
    }
    self.lines = lines
    self.metric = metric ?? ""
  }

  /// One summary per (recipe, step count), in the order they first appear.
  public func summaries(goal: Double?) -> [Summary] {
    var keys: [String] = []
    var groups: [String: [Line]] = [:]
    for line in lines {
      let key = "\(line.recipe)\u{0}\(line.comparison.steps)"
      if groups[key] == nil { keys.append(key) }
      groups[key, default: []].append(line)
    }
    return keys.map { key in
      let group = groups[key]!
      let gains = group.compactMap(\.comparison.gain)
      let n = Double(gains.count)
      let mean = gains.isEmpty ? nil : gains.reduce(0, +) / n
      var se: Double?
      if let mean, gains.count >= 2 {
        se = (gains.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1) / n).squareRoot()
      }
      return Summary(recipe: group[0].recipe, steps: group[0].comparison.steps, runs: group.count,
                     noneEligible: group.count - gains.count, meanGain: mean, meanGainSE: se, minimumGain: gains.min(),
                     goal: goal, reachingGoal: goal.map { g in gains.filter { $0 >= g }.count })
    }
  }

  public func markdown(goal: Double?) -> String {
    var s = "| run | recipe | seed | steps | teacher's best free sampler | \(metric) | entropy | student's best | \(metric) | entropy | gain |\n"
    s += "|---|---|---:|---:|---|---:|---:|---|---:|---:|---:|\n"
    func pick(_ p: SamplerComparison.Pick?) -> String {
      guard let p else { return "none eligible | – | –" }
      return "\(p.model == "teacher" ? "" : p.model + ", ")\(p.sampler) | " + String(format: "%.4f ± %.4f | %.3f", p.value, p.se, p.entropy)
    }
    for line in lines {
      let c = line.comparison
      let gain = c.gain.map { String(format: "%+.1f%% ± %.1f", 100 * $0, 100 * (c.gainSE ?? 0)) } ?? "–"
      s += "| \(line.run) | \(line.recipe) | \(line.seed) | \(c.steps) | \(pick(c.teacher)) | \(pick(c.student)) | \(gain) |\n"
    }
    s += "\n"
    for summary in summaries(goal: goal) {
      s += "\(summary.recipe), \(summary.steps) steps, \(summary.runs) run\(summary.runs == 1 ? "" : "s"): "
      if let mean = summary.meanGain {
        s += String(format: "mean gain %+.1f%%", 100 * mean)
        if let se = summary.meanGainSE { s += String(format: " ± %.1f across runs", 100 * se) }
        s += String(format: ", lowest %+.1f%%", 100 * summary.minimumGain!)
      } else {
        s += "no run has an eligible student"
      }
      if summary.noneEligible > 0 { s += "; \(summary.noneEligible) without an eligible student" }
      if let goal, let reaching = summary.reachingGoal {
        s += String(format: "; %d of %d at or above %+.1f%%", reaching, summary.runs, 100 * goal)
      }
      s += "\n"
    }
    return s
  }
}
