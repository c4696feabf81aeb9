import Checkpoints
import Formats
import Foundation
import Teacher

/// Cached evaluation rows (`eval/`), each tied to what it measured: the weights' SHA-256 (as
/// their phase recorded it), the step count, samples, batch, seed, sampler and quality measure.
/// A row is reused only when all of them match; anything else (other weights, another --seed or
/// sampler, a file from an older version) is evaluated again.
struct EvaluationCache {
  let run: RunFolder
  let ledger: RunLedger

  /// A cached row with the SHA-256 of its own content (the row and what it consumed), so that a
  /// changed number is caught instead of reported.
  struct Row: Codable { var format = 1; var consumed: [String: String]; var row: EvaluationRow; var sha256: String? }
  struct Validation: Codable { var format = 1; var consumed: [String: String]; var valNLL: Double?; var sha256: String?
    enum CodingKeys: String, CodingKey { case format, consumed, valNLL = "val_nll", sha256 }
  }

  static func seal(_ consumed: [String: String], _ content: some Encodable) throws -> String {
    try FileDigest.sha256(json: consumed) + (try FileDigest.sha256(json: content))
  }

  /// A cached file whose content no longer matches its own hash: moved aside and named.
  func damaged(_ url: URL) -> RunFolderError {
    let aside = url.deletingLastPathComponent().appendingPathComponent(url.lastPathComponent + ".damaged")
    try? FileManager.default.removeItem(at: aside)
    let moved = (try? FileManager.default.moveItem(at: url, to: aside)) != nil
    return .damaged(file: url.path, phase: .evaluation, detail: "its numbers no longer match the SHA-256 recorded with them",
                    movedTo: moved ? aside.path : nil)
  }

  /// The identity of the model folder `dir`, trained by `phase`: its weights and config as recorded.
  func model(_ dir: URL, phase: RunPhase) throws -> [String: String] {
    ["weights": try ledger.recordedDigest(dir.appendingPathComponent(ModelFolder.weightsFile), of: phase),
     "config": try ledger.recordedDigest(dir.appendingPathComponent(ModelFolder.configFile), of: phase)]
  }

  /// The identity of a quality measure.
  func measure(_ measure: QualityMeasure) throws -> String {
    switch measure {
    case .markov: return "markov " + (try ledger.identity(of: .data))
    case .evaluator: return "evaluator " + (try ledger.identity(of: .evaluator))
    case .none: return "none"
    }
  }

  static func settings(steps: Int, samples: Int, batch: Int, seed: UInt64, variant: SamplerVariant) throws -> [String: String] {
    ["steps": String(steps), "samples": String(samples), "batch": String(batch), "seed": String(seed),
     "sampler": try FileDigest.sha256(json: variant)]
  }

  func row(_ url: URL, consumed: [String: String], compute: () throws -> EvaluationRow) throws -> EvaluationRow {
    if let data = try? Data(contentsOf: url) {
      guard let cached = try? JSONDecoder().decode(Row.self, from: data),
            try cached.sha256 == FileDigest.sha256(of: Self.seal(cached.consumed, cached.row)) else { throw damaged(url) }
      if cached.consumed == consumed { return cached.row }
    }
    try Interruption.check()
    let row = try compute()
    try write(Row(consumed: consumed, row: row, sha256: FileDigest.sha256(of: try Self.seal(consumed, row))), to: url)
    return row
  }

  func validation(_ url: URL, consumed: [String: String], compute: () throws -> Double?) throws -> Double? {
    if let data = try? Data(contentsOf: url) {
      guard let cached = try? JSONDecoder().decode(Validation.self, from: data),
            try cached.sha256 == FileDigest.sha256(of: Self.seal(cached.consumed, [cached.valNLL])) else { throw damaged(url) }
      if cached.consumed == consumed { return cached.valNLL }
    }
    try Interruption.check()
    let v = try compute()
    try write(Validation(consumed: consumed, valNLL: v, sha256: FileDigest.sha256(of: try Self.seal(consumed, [v]))), to: url)
    return v
  }

  func write<T: Encodable>(_ value: T, to url: URL) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try FileError.wrap(run.evaluations.path, "create the folder") {
      try FileManager.default.createDirectory(at: run.evaluations, withIntermediateDirectories: true)
    }
    try AtomicFile.write(try enc.encode(value), to: url)
  }
}
