import Corpus
import Formats
import Foundation
import Student

/// Makes sure the recipe's token dataset exists (generating it once) and opens it.
public enum DataPreparation {
  /// The data phase: generates the dataset once (synthetic or text) or records the hash of the
  /// recipe's existing `data.path`, and opens it after checking it against the data manifest.
  public static func prepare(_ recipe: Recipe, run: RunFolder, log: @escaping (String) -> Void) throws -> TokenDataset {
    let ledger = RunLedger(run: run, log: log)
    let consumed = ["recipe.data": try FileDigest.sha256(json: recipe.data), "seed.data": String(recipe.seed(for: "data"))]
    switch recipe.data {
    case .path(let p):
      try ledger.ensure(.data, consumed: consumed) { [URL(fileURLWithPath: Pretraining.absolutePath(p))] }
      return try TokenDataset(path: p)
    case .synthetic(let s):
      try ledger.ensure(.data, consumed: consumed) {
        try FileError.wrap(run.data.deletingLastPathComponent().path, "create the folder") {
          try FileManager.default.createDirectory(at: run.data.deletingLastPathComponent(), withIntermediateDirectories: true)
        }
        var o = SyntheticDatasetOptions(output: run.data)
        o.symbols = s.vocab; o.branching = s.branching; o.order = s.order; o.length = s.length
        o.sequences = s.sequences; o.validationSequences = s.validation; o.seed = recipe.seed(for: "data")
        let summary = try AtomicFile.build(run.data) { tmp in o.output = tmp; return try SyntheticDatasetBuilder.build(o) }
        log(String(format: "data: synthetic Markov source, %d symbols, branching %d, order %d, L=%d: %d train / %d validation rows (entropy rate %.3f nats)",
                   summary.symbols, summary.branching, summary.order, summary.length, summary.trainRows,
                   summary.validationRows, summary.entropyRate))
        return [run.data.deletingLastPathComponent()]
      }
      return try TokenDataset(path: run.data.path, expectedLength: s.length)
    case .text(let t):
      try ledger.ensure(.data, consumed: consumed) {
        try FileError.wrap(run.data.deletingLastPathComponent().path, "create the folder") {
          try FileManager.default.createDirectory(at: run.data.deletingLastPathComponent(), withIntermediateDirectories: true)
        }
        var corpus: [URL] = []
        for path in t.corpus {
          var isDir: ObjCBool = false
          guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw RecipeError.invalid("data.text.corpus", "\(path) does not exist (for Shakespeare: scripts/fetch-shakespeare)")
          }
          if isDir.boolValue {
            let files = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
              .filter { name in !name.hasPrefix(".") && !(t.exclude ?? []).contains { name.hasSuffix($0) } }
            corpus += files.map { URL(fileURLWithPath: path).appendingPathComponent($0) }
          } else {
            corpus.append(URL(fileURLWithPath: path))
          }
        }
        let choice: TextTokenizerChoice = t.tokenizer == "char" ? .characters : .file(URL(fileURLWithPath: t.tokenizer))
        var o = TextDatasetOptions(corpus: corpus, tokenizer: choice, length: t.length, output: run.data,
                                   validationFraction: t.validationFraction ?? 0.05, seed: recipe.seed(for: "data"))
        // Character tokenizers are saved beside the output; build in place (the tokenizer path is
        // recorded). Not atomic, which is why only the manifest says the data is complete.
        o.overwrite = true
        let summary = try TextDatasetBuilder.build(o)
        log("data: \(summary.files) files, \(summary.textTokens) tokens, \(summary.train.rows) train / \(summary.validation.rows) validation rows")
        return [run.data.deletingLastPathComponent()]
      }
      return try TokenDataset(path: run.data.path, expectedLength: t.length)
    }
  }
}

extension DataPreparation {
  /// Opens the dataset rank 0 prepared (the other ranks of an mpirun job, after the data phase).
  public static func open(_ recipe: Recipe, run: RunFolder) throws -> TokenDataset {
    switch recipe.data {
    case .path(let p): return try TokenDataset(path: p)
    case .synthetic(let s): return try TokenDataset(path: run.data.path, expectedLength: s.length)
    case .text(let t): return try TokenDataset(path: run.data.path, expectedLength: t.length)
    }
  }
}

/// A split of a token dataset as the trainer's batch source.
public final class DatasetSplitSource: BatchSource {
  let dataset: TokenDataset
  let split: DatasetSplit
  public init(_ dataset: TokenDataset, _ split: DatasetSplit) { self.dataset = dataset; self.split = split }
  public var length: Int { dataset.length }
  public var rowCount: Int { dataset.rowCount(split) }
  public func read(rows: [Int], into buffer: inout [Int32]) throws {
    try dataset.read(split, rows: rows, into: &buffer)
  }
}
