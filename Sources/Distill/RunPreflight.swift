import Corpus
import Formats
import Foundation
import Networks
import Student

/// Every check of a recipe that can run before any work: settings that would only fail after
/// pretraining, and the memory and disk the run needs against what the machine has. Refusals
/// happen before the run folder is created or anything is allocated, with the figure and the field
/// to change ("Fatal error: failed to allocate", a SIGILL on an overflow, or a 128 TB dataset
/// started on a 70 GB disk were the alternatives).
public enum RunPreflight {
  /// Before the data exists: uses what the recipe says about the data (synthetic: everything; an
  /// existing `data.path`: its attributes; text: the length only).
  /// `processes`: the ranks of an mpirun job (a setting that cannot be split is refused now, not
  /// after pretraining).
  public static func check(_ recipe: Recipe, run: RunFolder, needsDistill: Bool, processes: Int = 1) throws {
    if needsDistill, recipe.distill == nil { throw RecipeError.invalid(recipe.name, "has no 'distill' section") }
    try settings(recipe)
    if processes > 1, let d = recipe.distill, d.method == .dmmd, let dmmd = d.dmmd, dmmd.reinforce > 0 {
      throw RecipeError.invalid("distill.dmmd", "reinforce > 0 runs on one process only (its baseline compares every row of a batch with the others): launch without mpirun, or set reinforce to 0")
    }
    guard let shape = plannedShape(recipe) else { return }
    try resources(recipe, run: run, vocabulary: shape.vocabulary, length: shape.length, rows: shape.rows)
  }

  /// Once the data exists (text recipes learn their vocabulary only then).
  public static func check(_ recipe: Recipe, run: RunFolder, dataset: TokenDataset) throws {
    try resources(recipe, run: run, vocabulary: dataset.modelVocabularySize, length: dataset.length,
                  rows: dataset.rowCount(.train) + dataset.rowCount(.validation))
  }

  /// Settings that are valid JSON and in range, but that no run can use.
  static func settings(_ recipe: Recipe) throws {
    guard recipe.pretrain.steps >= 1 else { throw RecipeError.invalid("pretrain", "steps must be ≥ 1") }
    if let e = recipe.evaluator, e.pretrain.steps < 1 { throw RecipeError.invalid("evaluator.pretrain", "steps must be ≥ 1") }
    if let d = recipe.distill {
      guard d.student.steps >= 1 else { throw RecipeError.invalid("distill.student", "steps must be ≥ 1 (optimizer steps per round)") }
    }
    _ = try recipe.model.config(vocabularySize: 2, length: 2)
  }

  /// Model vocabulary (with the mask), length and rows, when known before the data exists.
  static func plannedShape(_ recipe: Recipe) -> (vocabulary: Int, length: Int, rows: Int)? {
    switch recipe.data {
    case .synthetic(let s): return (s.vocab + 2, s.length, s.sequences + s.validation)
    case .path(let p):
      guard let d = try? TokenDataset(path: p) else { return nil }
      return (d.modelVocabularySize, d.length, d.rowCount(.train) + d.rowCount(.validation))
    case .text: return nil
    }
  }

  static func resources(_ recipe: Recipe, run: RunFolder, vocabulary v: Int, length l: Int, rows: Int) throws {
    if let d = recipe.distill, d.topK > v - 1 {
      throw RecipeError.invalid("distill", "top_k = \(d.topK) exceeds the vocabulary (V = \(v) with the mask; a target holds at most V − 1 = \(v - 1) tokens)")
    }
    let ledger = RunLedger(run: run, log: { _ in })
    var memory: [(String, Double)] = []
    var disk: [(String, Double)] = []
    let teacher = try recipe.model.config(vocabularySize: v - 1, length: l)
    memory.append(("pretraining the teacher (recipe pretrain.batch_size, model)",
                   ResourceEstimate.trainingBytes(teacher, batch: recipe.pretrain.batchSize)))
    if case .path = recipe.data {} else if ledger.manifest(.data) == nil {
      disk.append(("data/tokens.h5 (data rows × length)", Double(rows) * Double(l) * 4))
      memory.append(("generating the data", Double(rows) * Double(l) * 4 * 2))
    }
    if ledger.manifest(.teacher) == nil { disk.append(("teacher/", ResourceEstimate.trainingDiskBytes(teacher))) }
    if let e = recipe.evaluator {
      var m = e.model
      m.kind = .ar
      let c = try m.config(vocabularySize: v - 1, length: l)
      memory.append(("pretraining the evaluator", ResourceEstimate.trainingBytes(c, batch: e.pretrain.batchSize)))
      if ledger.manifest(.evaluator) == nil { disk.append(("evaluator/", ResourceEstimate.trainingDiskBytes(c))) }
    }
    if let d = recipe.distill {
      memory.append(("training a student (distill.student.batch_size)", ResourceEstimate.trainingBytes(teacher, batch: d.student.batchSize)))
      memory.append(("generating targets (distill.top_k)",
                     ResourceEstimate.samplingBytes(teacher, count: 64, batch: 64) + 64 * Double(l) * Double(d.topK) * 8 * 2))
      for r in 1...d.rounds {
        if ledger.manifest(.targets(round: r)) == nil {
          disk.append(("round-\(r)/targets.h5 (distill.targets_per_round × length × top_k)",
                       ResourceEstimate.targetBytes(rows: d.targetsPerRound, length: l, topK: min(d.topK, v - 1))))
        }
        if ledger.manifest(.student(round: r)) == nil {
          disk.append(("round-\(r)/student/", ResourceEstimate.trainingDiskBytes(teacher)))
        }
      }
    }
    memory.append(("evaluation (eval.samples, eval.batch)", ResourceEstimate.samplingBytes(teacher, count: recipe.eval.samples, batch: recipe.eval.batch)))
    try ResourceEstimate.require(memory: memory, disk: disk, at: run.root)
  }
}

/// Rough upper estimates of what networks, samplers and files take, in bytes (Double, so that no
/// absurd size can overflow), and the machine's limits.
public enum ResourceEstimate {
  /// Parameters of a network, from its config (the blocks' projections, MLPs and modulation, the
  /// embeddings and the output layer).
  public static func parameters(_ c: ModelConfig) -> Double {
    let d = Double(c.hiddenSize), cond = Double(c.condDim), r = Double(c.mlpRatio), v = Double(c.vocabSize)
    let blocks = Double(c.kind == .pgm ? c.encoderBlocks + c.decoderBlocks : c.blocks)
    return blocks * ((6 + 2 * r) * d * d + 9 * cond * d) + 2 * v * d + cond * (256 + cond) + Double(c.length) * d
  }

  /// Training: weights, EMA, gradients, two Adam moments and the checkpoint being written, plus the
  /// recorded activations of one micro-batch (both passes of a partition network).
  public static func trainingBytes(_ c: ModelConfig, batch: Int) -> Double {
    let p = parameters(c), b = Double(batch), l = Double(c.length), d = Double(c.hiddenSize), h = Double(c.heads)
    let blocks = Double(c.kind == .pgm ? c.encoderBlocks + c.decoderBlocks : c.blocks)
    let activations = 2 * blocks * b * l * (30 * d + 2 * h * l) + 4 * b * l * Double(c.vocabSize)
    return 4 * (8 * p + activations)
  }

  /// Sampling `count` sequences `batch` at a time: the samples kept, and one batch's forward pass.
  public static func samplingBytes(_ c: ModelConfig, count: Int, batch: Int) -> Double {
    let b = Double(min(batch, max(count, 1))), l = Double(c.length), d = Double(c.hiddenSize), h = Double(c.heads)
    let blocks = Double(c.kind == .pgm ? c.encoderBlocks + c.decoderBlocks : c.blocks)
    return Double(count) * (l * 4 + 64) * 2 + 4 * (parameters(c) + blocks * b * l * (12 * d + 2 * h * l) + 3 * b * l * Double(c.vocabSize))
  }

  /// A training folder: the checkpoint (weights, EMA, two moments) and two model folders.
  public static func trainingDiskBytes(_ c: ModelConfig) -> Double { 4 * 6 * parameters(c) }

  /// A targets file: rows, and about half the positions masked, each with K ids and log-probabilities.
  public static func targetBytes(rows: Int, length: Int, topK: Int) -> Double {
    Double(rows) * (Double(length) * 4 + 24) + Double(rows) * Double(length) / 2 * (Double(topK) * 8 + 4)
  }

  /// The memory this process may use: `PGM_MEMORY_LIMIT` if set, else the smaller of the
  /// machine's memory and the cgroup limit.
  public static var memoryLimit: (bytes: Double, source: String) {
    if let text = ProcessInfo.processInfo.environment["PGM_MEMORY_LIMIT"], let v = parseSize(text) {
      return (v, "PGM_MEMORY_LIMIT")
    }
    var bytes = Double(ProcessInfo.processInfo.physicalMemory)
    var source = "the machine's memory"
    if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
       let v = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)), v < bytes {
      bytes = v; source = "the cgroup memory limit"
    }
    return (bytes, source)
  }

  /// Free space for files under `folder` (its nearest existing ancestor), or `PGM_DISK_LIMIT`.
  public static func diskLimit(at folder: URL) -> (bytes: Double, source: String)? {
    if let text = ProcessInfo.processInfo.environment["PGM_DISK_LIMIT"], let v = parseSize(text) {
      return (v, "PGM_DISK_LIMIT")
    }
    var dir = folder.standardizedFileURL
    while !FileManager.default.fileExists(atPath: dir.path) && dir.path != "/" { dir.deleteLastPathComponent() }
    var fs = statvfs()
    guard statvfs(dir.path, &fs) == 0 else { return nil }
    return (Double(fs.f_bavail) * Double(fs.f_frsize), "free space on the file system of \(dir.path)")
  }

  /// "12G", "512M", "1.5T", or a byte count.
  public static func parseSize(_ text: String) -> Double? {
    let t = text.trimmingCharacters(in: .whitespaces).uppercased()
    let units: [Character: Double] = ["K": 1024, "M": 1_048_576, "G": 1_073_741_824, "T": 1_099_511_627_776]
    if let last = t.last, let unit = units[last] { return Double(t.dropLast()).map { $0 * unit } }
    return Double(t)
  }

  public static func format(_ bytes: Double) -> String {
    let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"]
    var v = bytes, i = 0
    while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
    if i == units.count - 1 && v >= 1000 { return String(format: "%.1e bytes", bytes) }
    return i == 0 ? "\(Int(v)) bytes" : String(format: "%.1f %@", v, units[i])
  }

  /// Refuses when the largest memory need or the total disk need exceeds the limits.
  public static func require(memory: [(String, Double)], disk: [(String, Double)], at folder: URL) throws {
    let limit = memoryLimit
    if let worst = memory.max(by: { $0.1 < $1.1 }), !(worst.1 <= limit.bytes) {
      throw ResourceError(message: "\(worst.0) needs about \(format(worst.1)) of memory, more than the \(format(limit.bytes)) available (\(limit.source)); "
                            + "make it smaller, or set PGM_MEMORY_LIMIT (e.g. 64G) if this estimate is wrong for your machine")
    }
    let total = disk.reduce(0) { $0 + $1.1 }
    if let room = diskLimit(at: folder), !(total <= room.bytes) {
      let biggest = disk.sorted { $0.1 > $1.1 }.prefix(3).map { "\($0.0): \(format($0.1))" }.joined(separator: ", ")
      throw ResourceError(message: "the run needs about \(format(total)) of disk (\(biggest)), more than the \(format(room.bytes)) available "
                            + "(\(room.source)); make it smaller, free space, or set PGM_DISK_LIMIT if this estimate is wrong")
    }
  }
}

/// A run, sampling or evaluation that would not fit in this machine's memory or disk.
public struct ResourceError: Error, CustomStringConvertible {
  public var message: String
  public init(message: String) { self.message = message }
  public var description: String { "refused before starting: \(message)" }
}
