import Checkpoints
import Foundation
import Student

/// Where a run's outputs live (`runs/<name>/` unless `--out` says otherwise; ignored by git), and
/// the only place that knows the folder's layout:
///
///     .lock                      who runs in the folder now (RunLock)
///     recipe.json                the recipe the run was started with
///     manifests/<phase>.json     written last by each finished phase (PhaseManifest)
///     data/tokens.h5             generated data (synthetic or text recipes)
///     teacher/                   pretraining: checkpoint, metrics.jsonl, model/ (EMA), model-raw/
///     evaluator/                 text recipes: the autoregressive evaluator, same layout
///     round-<r>/targets.h5       teacher targets of round r
///     round-<r>/student/         student training of round r: checkpoint, metrics, model/, model-raw/
///     eval/                      cached evaluation rows, each tied to the weights and settings
///     report.md, report.json, tradeoff.svg
///     export/                    the exported student
public struct RunFolder: Sendable {
  public let root: URL

  public init(root: URL) { self.root = root }

  /// `runs/<name>` under the current directory.
  public init(recipe: Recipe, out: String?) {
    root = URL(fileURLWithPath: out ?? "runs/\(recipe.name)")
  }

  /// A network trained in the folder.
  public enum Trained: Hashable, Sendable, CustomStringConvertible {
    case teacher, evaluator
    case student(round: Int)
    public var description: String {
      switch self {
      case .teacher: return "the teacher"
      case .evaluator: return "the evaluator"
      case .student(let r): return "round \(r)'s student"
      }
    }
    public var phase: RunPhase {
      switch self {
      case .teacher: return .teacher
      case .evaluator: return .evaluator
      case .student(let r): return .student(round: r)
      }
    }
  }

  public var data: URL { root.appendingPathComponent("data/tokens.h5") }
  public var teacher: URL { directory(of: .teacher) }
  public var evaluator: URL { directory(of: .evaluator) }
  public func round(_ r: Int) -> URL { root.appendingPathComponent("round-\(r)") }
  public func targets(round r: Int) -> URL { round(r).appendingPathComponent("targets.h5") }
  public func student(round r: Int) -> URL { directory(of: .student(round: r)) }
  public var report: URL { root.appendingPathComponent("report.md") }
  public var reportJSON: URL { root.appendingPathComponent("report.json") }
  public var plot: URL { root.appendingPathComponent("tradeoff.svg") }
  public var export: URL { root.appendingPathComponent("export") }
  public var evaluations: URL { root.appendingPathComponent("eval") }
  public var manifests: URL { root.appendingPathComponent("manifests") }
  /// The recipe as the run used it (after `--seed`), to refuse resuming with another one.
  public var recipeCopy: URL { root.appendingPathComponent("recipe.json") }

  /// The training folder of a network (checkpoint, metrics, model folders).
  public func directory(of part: Trained) -> URL {
    switch part {
    case .teacher: return root.appendingPathComponent("teacher")
    case .evaluator: return root.appendingPathComponent("evaluator")
    case .student(let r): return round(r).appendingPathComponent("student")
    }
  }

  public func files(of part: Trained) -> TrainingFiles { TrainingFiles(directory: directory(of: part)) }
  /// The model folder of a network's `choice` weights (EMA: model/, raw: model-raw/).
  public func model(_ part: Trained, _ choice: WeightChoice) -> URL { files(of: part).model(choice) }
  public func weights(_ part: Trained, _ choice: WeightChoice) -> URL {
    model(part, choice).appendingPathComponent(ModelFolder.weightsFile)
  }
  public func checkpoint(_ part: Trained) -> URL { files(of: part).checkpoint }

  /// A cached evaluation row (a model at a step count) and a model's validation NLL.
  /// The cached row of a model at a step count: with its own sampler (`variant` nil), or with a
  /// named free variant (the honest comparison).
  public func evaluationRow(_ slug: String, steps: Int, variant: String? = nil) -> URL {
    let suffix = variant.map { "-" + $0.replacingOccurrences(of: " ", with: "").replacingOccurrences(of: "+", with: "_") } ?? ""
    return evaluations.appendingPathComponent("\(slug)-steps-\(steps)\(suffix).json")
  }
  public func validationRow(_ slug: String) -> URL { evaluations.appendingPathComponent("\(slug)-val.json") }

  public func manifest(_ phase: RunPhase) -> URL { manifests.appendingPathComponent(phase.name + ".json") }
  /// Written when a phase starts, with what it consumes: a later run that finds it with other
  /// inputs clears the phase's half-done outputs instead of resuming from them.
  public func startMarker(_ phase: RunPhase) -> URL { manifests.appendingPathComponent(phase.name + ".started.json") }

  /// What a phase owns in the folder: its files (or folders of files), removed when the phase must
  /// start over.
  public func owned(by phase: RunPhase) -> [URL] {
    switch phase {
    case .data: return [data.deletingLastPathComponent()]
    case .teacher: return [teacher]
    case .evaluator: return [evaluator]
    case .targets(let r): return [targets(round: r)]
    case .student(let r): return [student(round: r)]
    case .export: return [export]
    case .evaluation: return []
    }
  }

  /// The path of `url` relative to the root (as manifests record it), or the absolute path for
  /// files outside the folder.
  public func relative(_ url: URL) -> String {
    let base = root.standardizedFileURL.path + "/"
    let path = url.standardizedFileURL.path
    return path.hasPrefix(base) ? String(path.dropFirst(base.count)) : path
  }

  public func resolve(_ path: String) -> URL {
    path.hasPrefix("/") ? URL(fileURLWithPath: path) : root.appendingPathComponent(path)
  }

  public func create() throws {
    try FileError.wrap(root.path, "create the run folder") {
      try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }
  }
}

/// A step of a run that completes by writing its manifest.
public enum RunPhase: Hashable, Sendable, CustomStringConvertible {
  case data, teacher, evaluator
  case targets(round: Int)
  case student(round: Int)
  case export
  /// An evaluation row (cached in eval/, each file its own record).
  case evaluation

  /// The manifest's file name (without .json).
  public var name: String {
    switch self {
    case .data: return "data"
    case .teacher: return "teacher"
    case .evaluator: return "evaluator"
    case .targets(let r): return "round-\(r).targets"
    case .student(let r): return "round-\(r).student"
    case .export: return "export"
    case .evaluation: return "evaluation"
    }
  }

  public var description: String {
    switch self {
    case .data: return "the data"
    case .teacher: return "the teacher"
    case .evaluator: return "the evaluator"
    case .targets(let r): return "round \(r)'s targets"
    case .student(let r): return "round \(r)'s student"
    case .export: return "the export"
    case .evaluation: return "this evaluation row"
    }
  }
}

import Formats

/// What can go wrong with a run folder as a whole.
public enum RunFolderError: Error, CustomStringConvertible {
  /// Another process holds the folder's lock.
  case busy(folder: String, holder: RunLock.Holder?)
  /// A file no longer matches what the phase that wrote it recorded.
  case damaged(file: String, phase: RunPhase, detail: String, movedTo: String?)
  /// A phase's output is missing although its manifest says it was written.
  case missing(file: String, phase: RunPhase)
  /// A phase was done (or started) with other inputs than this run gives it.
  case inputsChanged(phase: RunPhase, done: Bool, changed: [String], files: [String])
  /// A file of the folder that is not an output of a phase (recipe.json, a manifest) is unreadable.
  case unreadable(file: String, detail: String, advice: String)

  public var description: String {
    switch self {
    case .busy(let folder, let holder):
      let who = holder.map { "\($0)" } ?? "another process (it did not say which)"
      return "\(folder) is in use by \(who); wait for it to finish, or use another --out"
    case .damaged(let file, let phase, let detail, let movedTo):
      return "\(file) is damaged: \(detail). It was not used and nothing was derived from it"
        + (movedTo.map { "; it was moved to \($0)" } ?? "")
        + ". Rerun the same command to redo \(phase)"
    case .missing(let file, let phase):
      return "\(file) is missing although \(phase) was done. Rerun the same command to redo \(phase) "
        + "(the record of it being done was withdrawn)"
    case .inputsChanged(let phase, let done, let changed, let files):
      return "\(phase) was \(done ? "done" : "started") with other inputs than this run gives it (\(changed.joined(separator: ", ")) "
        + "differ: an earlier phase was redone differently, or the program changed); its files were kept. "
        + "To redo it and what follows, remove \(files.joined(separator: " and ")); to keep them, use another --out"
    case .unreadable(let file, let detail, let advice):
      return "\(file) \(detail); \(advice)"
    }
  }
}
