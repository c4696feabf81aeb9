import Foundation
import HDF5

/// The two parts of every token dataset.
public enum DatasetSplit: String, Sendable, CaseIterable, Codable {
  case train
  case validation

  /// The HDF5 path of the split's token rows.
  public var tokensPath: String { "/\(rawValue)/tokens" }
}

/// The layout of a token dataset file (`tokens.h5`), version 1.
///
/// ```
/// /                          root group, attributes:
///   layout_version   int64   1
///   kind             string  "text" | "synthetic"
///   length           int64   L, the tokens in every row (the model's sequence length)
///   vocab_size       int64   tokens the rows may contain, WITHOUT the mask; the model's
///                            vocabulary is vocab_size + 1 and the mask id is vocab_size
///   bos_id           int64   the id at position 0 of every row
///   eos_id           int64   the id ending every row and every document; -1 if none (synthetic)
///   tokenizer        string  the tokenizer's identity, "kind/size/sha256:hex"
///                            ("markov-symbols/<vocab_size>" for synthetic data)
///   tokenizer_path   string  where the tokenizer was read or written; a relative path is
///                            relative to the folder holding the .h5 file ("" for synthetic)
///   source_files     string  the corpus files, one path per line, in reading order ("" if none)
///   seed             int64   the seed of every random choice (stored as the UInt64's bit pattern)
///   split_rule       string  how validation rows were chosen: "documents", "rows", "none"
///                            (no validation) or "independent" (synthetic: separately drawn)
///   created_by       string  the program and command that wrote the file
/// /train/tokens              int32 [rows, L], chunked (whole rows, ~64 KiB a chunk), deflate
///                            level 4 with byte shuffle, extendible along rows; rows are in a
///                            seeded random order
/// /validation/tokens         int32 [rows, L], the same (rows may be 0)
/// /train, /validation        group attributes: documents (int64, documents that fed the split;
///                            0 for synthetic), tokens (int64, stream tokens before cutting,
///                            EOS included), dropped_tokens (int64, the partial tail not stored)
/// /validation                also: validation_files (string, one path per line) for text data
/// /source                    synthetic only: the Markov source (see `MarkovSourceFile`)
/// ```
///
/// Text rows are `[BOS] chunk [EOS]` where the chunks are consecutive `L - 2`-token pieces of the
/// split's documents joined with EOS after each document (SPEC.md §6); synthetic rows are
/// `[BOS, x1, …, x(L-1)]` with no EOS.
public enum TokenDatasetLayout {
  /// The layout version this code writes and reads.
  public static let version: Int64 = 1

  /// Target bytes of one chunk of a token dataset (64 KiB: 16 rows at L = 1024, 128 at L = 128).
  ///
  /// A random batch touches about one chunk per row, and HDF5 decompresses a chunk whole, so once
  /// a split outgrows the 32 MiB chunk cache the chunk size sets the cost of a batch. Measured on
  /// this machine (release, 2 shared cores, a random 64-row batch of a 245 MB L = 1024 split /
  /// 256 MB L = 128 split): 1 MiB chunks 169 / 192 ms, 128 KiB 19 / 28 ms, 64 KiB 11 / 13 ms,
  /// 32 KiB 8 / 10 ms; the file grows by 12 % from 1 MiB to 64 KiB chunks. Below 64 KiB the
  /// per-call overhead starts to dominate and the gain is small.
  public static let chunkBytes = 64 << 10

  /// Whole rows of about `chunkBytes` (at least one row).
  public static func chunkRows(length: Int) -> Int {
    max(1, chunkBytes / (length * MemoryLayout<Int32>.size))
  }

  /// The compression of the token datasets.
  public static let compression = H5Compression.deflate(level: 4, shuffle: true)

  enum Attribute {
    static let layoutVersion = "layout_version"
    static let kind = "kind"
    static let length = "length"
    static let vocabularySize = "vocab_size"
    static let bosId = "bos_id"
    static let eosId = "eos_id"
    static let tokenizer = "tokenizer"
    static let tokenizerPath = "tokenizer_path"
    static let sourceFiles = "source_files"
    static let seed = "seed"
    static let splitRule = "split_rule"
    static let createdBy = "created_by"
    // On the split groups.
    static let documents = "documents"
    static let tokens = "tokens"
    static let droppedTokens = "dropped_tokens"
    static let validationFiles = "validation_files"
  }
}

/// What produced the rows of a dataset.
public enum DatasetKind: String, Sendable, Codable {
  /// Text files cut into `[BOS] chunk [EOS]` rows.
  case text
  /// Sequences drawn from a Markov source stored under `/source`.
  case synthetic
}

/// How validation rows were chosen.
public enum SplitRule: String, Sendable, Codable {
  /// Whole documents (files) go to validation; the two splits are packed separately.
  case documents
  /// One stream is packed and a seeded choice of rows goes to validation (a single document).
  case rows
  /// No validation rows (validation fraction 0).
  case none
  /// Validation sequences were drawn independently from the same source (synthetic data).
  case independent
}

/// The root attributes of a token dataset.
public struct TokenDatasetAttributes: Sendable, Equatable, Codable {
  public var layoutVersion: Int64 = TokenDatasetLayout.version
  public var kind: DatasetKind
  public var length: Int
  /// Tokens the rows may contain, without the mask (the mask id is `vocabularySize`).
  public var vocabularySize: Int
  public var bosId: Int32
  /// nil when rows have no EOS (stored as -1).
  public var eosId: Int32?
  /// The tokenizer's identity string.
  public var tokenizer: String
  /// As stored: absolute, or relative to the dataset's folder; "" if there is no tokenizer file.
  public var tokenizerPath: String
  public var sourceFiles: [String]
  public var seed: UInt64
  public var splitRule: SplitRule
  public var createdBy: String

  public init(kind: DatasetKind, length: Int, vocabularySize: Int, bosId: Int32, eosId: Int32?,
              tokenizer: String, tokenizerPath: String, sourceFiles: [String], seed: UInt64,
              splitRule: SplitRule, createdBy: String) {
    self.kind = kind
    self.length = length
    self.vocabularySize = vocabularySize
    self.bosId = bosId
    self.eosId = eosId
    self.tokenizer = tokenizer
    self.tokenizerPath = tokenizerPath
    self.sourceFiles = sourceFiles
    self.seed = seed
    self.splitRule = splitRule
    self.createdBy = createdBy
  }

  /// The mask id a model trained on this data uses.
  public var maskId: Int32 { Int32(vocabularySize) }
  /// The model's vocabulary: the dataset's tokens plus the mask.
  public var modelVocabularySize: Int { vocabularySize + 1 }

  func write(to attributes: H5Attributes) throws {
    typealias A = TokenDatasetLayout.Attribute
    try attributes.set(A.layoutVersion, layoutVersion)
    try attributes.set(A.kind, kind.rawValue)
    try attributes.set(A.length, length)
    try attributes.set(A.vocabularySize, vocabularySize)
    try attributes.set(A.bosId, Int(bosId))
    try attributes.set(A.eosId, Int(eosId ?? -1))
    try attributes.set(A.tokenizer, tokenizer)
    try attributes.set(A.tokenizerPath, tokenizerPath)
    try attributes.set(A.sourceFiles, sourceFiles.joined(separator: "\n"))
    try attributes.set(A.seed, Int64(bitPattern: seed))
    try attributes.set(A.splitRule, splitRule.rawValue)
    try attributes.set(A.createdBy, createdBy)
  }

  /// Reads and checks the root attributes; every problem is a `CorpusError` naming `path`.
  static func read(from attributes: H5Attributes, path: String) throws -> TokenDatasetAttributes {
    typealias A = TokenDatasetLayout.Attribute
    func notOurs(_ reason: String) -> CorpusError { .notATokenDataset(path: path, reason: reason) }
    func integer(_ name: String) throws -> Int64 {
      guard try attributes.contains(name) else { throw notOurs("the root attribute '\(name)' is missing") }
      guard case .int64(let value) = try attributes.value(name) else {
        throw notOurs("the root attribute '\(name)' is not an integer")
      }
      return value
    }
    func text(_ name: String) throws -> String {
      guard try attributes.contains(name) else { throw notOurs("the root attribute '\(name)' is missing") }
      guard case .string(let value) = try attributes.value(name) else {
        throw notOurs("the root attribute '\(name)' is not a string")
      }
      return value
    }
    guard try attributes.contains(A.layoutVersion) else {
      throw notOurs("no 'layout_version' attribute on the root group (written by another program?)")
    }
    let version = try integer(A.layoutVersion)
    guard version == TokenDatasetLayout.version else {
      throw CorpusError.unsupportedLayoutVersion(path: path, found: version, supported: TokenDatasetLayout.version)
    }
    let kindText = try text(A.kind)
    guard let kind = DatasetKind(rawValue: kindText) else {
      throw notOurs("unknown kind '\(kindText)' (expected text or synthetic)")
    }
    let length = try integer(A.length)
    let vocabularySize = try integer(A.vocabularySize)
    let bos = try integer(A.bosId)
    let eos = try integer(A.eosId)
    guard length >= 2 else { throw notOurs("length \(length) is below 2") }
    guard vocabularySize >= 1, vocabularySize < Int64(Int32.max) else {
      throw notOurs("vocab_size \(vocabularySize) is not a usable vocabulary size")
    }
    guard (0..<vocabularySize).contains(bos) else {
      throw notOurs("bos_id \(bos) is outside the vocabulary 0..<\(vocabularySize)")
    }
    guard eos == -1 || (0..<vocabularySize).contains(eos) else {
      throw notOurs("eos_id \(eos) is neither -1 nor inside the vocabulary 0..<\(vocabularySize)")
    }
    let ruleText = try text(A.splitRule)
    guard let splitRule = SplitRule(rawValue: ruleText) else { throw notOurs("unknown split_rule '\(ruleText)'") }
    let files = try text(A.sourceFiles)
    return TokenDatasetAttributes(
      kind: kind, length: Int(length), vocabularySize: Int(vocabularySize), bosId: Int32(bos),
      eosId: eos == -1 ? nil : Int32(eos), tokenizer: try text(A.tokenizer),
      tokenizerPath: try text(A.tokenizerPath),
      sourceFiles: files.isEmpty ? [] : files.components(separatedBy: "\n"),
      seed: UInt64(bitPattern: try integer(A.seed)), splitRule: splitRule, createdBy: try text(A.createdBy))
  }
}

/// Facts about one split that the writer records on its group.
public struct SplitStatistics: Sendable, Equatable, Codable {
  /// Rows stored.
  public var rows: Int
  /// Documents whose tokens fed the split (0 for synthetic data).
  public var documents: Int
  /// Tokens of the split's stream before it was cut (EOS included; for synthetic data rows × L).
  public var tokens: Int
  /// Tokens of the stream's partial tail that were not stored.
  public var droppedTokens: Int

  public init(rows: Int, documents: Int, tokens: Int, droppedTokens: Int) {
    self.rows = rows
    self.documents = documents
    self.tokens = tokens
    self.droppedTokens = droppedTokens
  }
}
