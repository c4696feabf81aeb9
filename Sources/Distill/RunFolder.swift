import Foundation

/// Where a run's outputs live (`runs/<name>/` unless `--out` says otherwise; ignored by git).
///
///     data/tokens.h5             generated data (synthetic or text recipes)
///     teacher/                   pretraining: checkpoint, metrics.jsonl, model/ (EMA), model-raw/
///     evaluator/                 text recipes: the autoregressive evaluator, same layout
///     round-<r>/targets.h5       teacher targets of round r
///     round-<r>/student/         student training of round r: checkpoint, metrics, model/, model-raw/
///     report.md, report.json, tradeoff.svg
///     export/                    the exported student
public struct RunFolder: Sendable {
  public let root: URL

  public init(root: URL) { self.root = root }

  /// `runs/<name>` under the current directory.
  public init(recipe: Recipe, out: String?) {
    root = URL(fileURLWithPath: out ?? "runs/\(recipe.name)")
  }

  public var data: URL { root.appendingPathComponent("data/tokens.h5") }
  public var teacher: URL { root.appendingPathComponent("teacher") }
  public var evaluator: URL { root.appendingPathComponent("evaluator") }
  public func round(_ r: Int) -> URL { root.appendingPathComponent("round-\(r)") }
  public func targets(round r: Int) -> URL { round(r).appendingPathComponent("targets.h5") }
  public func student(round r: Int) -> URL { round(r).appendingPathComponent("student") }
  public var report: URL { root.appendingPathComponent("report.md") }
  public var reportJSON: URL { root.appendingPathComponent("report.json") }
  public var plot: URL { root.appendingPathComponent("tradeoff.svg") }
  public var export: URL { root.appendingPathComponent("export") }
  /// The recipe as the run used it (after `--seed`), to refuse resuming with another one.
  public var recipeCopy: URL { root.appendingPathComponent("recipe.json") }

  public func create() throws {
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
  }
}
