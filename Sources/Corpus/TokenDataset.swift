import Engine
import Foundation
import HDF5

/// A token dataset file opened read-only (layout: `TokenDatasetLayout`).
///
/// Opening validates the layout: the root attributes, both splits' `[rows, L]` int32 datasets, and
/// L against what the caller expects. Reads check every token against the vocabulary, so a corrupt
/// file or one written with another tokenizer fails loudly instead of feeding the model garbage.
///
/// Reading batches: the training loop draws a permutation of rows per epoch and asks for batches of
/// arbitrary rows with `read(_:rows:into:)`. Rows that are consecutive both in the request and in
/// the file are read with one HDF5 call; others one call each. A call costs about as much as
/// decompressing the chunk it touches when that chunk is not in HDF5's 32 MiB per-dataset chunk
/// cache, which is why chunks are small (`TokenDatasetLayout.chunkBytes`).
///
/// Thread safety: may be shared between threads (HDF5 calls are serialized by the HDF5 module).
public final class TokenDataset: @unchecked Sendable {
  /// The file's path, as given.
  public let path: String
  /// The root attributes.
  public let attributes: TokenDatasetAttributes
  private let file: H5File
  private let datasets: [DatasetSplit: H5Dataset<Int32>]
  private let rowCounts: [DatasetSplit: Int]

  /// Opens and validates a token dataset.
  ///
  /// - Parameter expectedLength: when given, rows of another length are an error
  ///   (`CorpusError.lengthMismatch`).
  /// - Throws: `CorpusError.fileNotFound`, `.notATokenDataset`, `.unsupportedLayoutVersion`,
  ///   `.lengthMismatch`; `H5Error` for files HDF5 cannot open (not HDF5, truncated, corrupted).
  public init(path: String, expectedLength: Int? = nil) throws {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
      throw CorpusError.fileNotFound(path: path)
    }
    let file = try H5File.open(path, mode: .readOnly)
    let attributes = try TokenDatasetAttributes.read(from: file.attributes, path: path)
    if let expectedLength, expectedLength != attributes.length {
      throw CorpusError.lengthMismatch(path: path, stored: attributes.length, expected: expectedLength)
    }
    var datasets: [DatasetSplit: H5Dataset<Int32>] = [:]
    var rowCounts: [DatasetSplit: Int] = [:]
    for split in DatasetSplit.allCases {
      let info: H5DatasetInfo
      do {
        info = try file.datasetInfo(split.tokensPath)
      } catch let error as H5Error where error.kind == .notFound {
        throw CorpusError.notATokenDataset(path: path, reason: "no dataset \(split.tokensPath)")
      }
      guard info.elementType == .int32 else {
        throw CorpusError.notATokenDataset(path: path, reason: "\(split.tokensPath) holds \(info.typeName), not int32")
      }
      guard info.shape.count == 2, info.shape[1] == attributes.length else {
        throw CorpusError.notATokenDataset(
          path: path, reason: "\(split.tokensPath) has shape \(info.shape), not [rows, \(attributes.length)] "
            + "as the length attribute says")
      }
      datasets[split] = try file.openDataset(split.tokensPath, of: Int32.self)
      rowCounts[split] = info.shape[0]
    }
    self.path = path
    self.file = file
    self.attributes = attributes
    self.datasets = datasets
    self.rowCounts = rowCounts
  }

  /// Tokens per row (L).
  public var length: Int { attributes.length }
  /// Tokens the rows may contain (without the mask).
  public var vocabularySize: Int { attributes.vocabularySize }
  /// The model's vocabulary: `vocabularySize + 1` (the mask id is `vocabularySize`).
  public var modelVocabularySize: Int { attributes.modelVocabularySize }

  /// The number of rows of a split.
  public func rowCount(_ split: DatasetSplit) -> Int { rowCounts[split]! }

  /// The statistics the writer recorded on a split's group.
  public func statistics(_ split: DatasetSplit) throws -> SplitStatistics {
    typealias A = TokenDatasetLayout.Attribute
    let group = try file.openGroup("/" + split.rawValue).attributes
    func integer(_ name: String) throws -> Int { try group.contains(name) ? Int(try group.int64(name)) : 0 }
    return SplitStatistics(rows: rowCount(split), documents: try integer(A.documents),
                           tokens: try integer(A.tokens), droppedTokens: try integer(A.droppedTokens))
  }

  /// The documents that went to validation (text data split by documents), else empty.
  public func validationFiles() throws -> [String] {
    let group = try file.openGroup("/validation").attributes
    let name = TokenDatasetLayout.Attribute.validationFiles
    guard try group.contains(name) else { return [] }
    let text = try group.string(name)
    return text.isEmpty ? [] : text.components(separatedBy: "\n")
  }

  /// Where the tokenizer is: `tokenizer_path` resolved against the dataset's folder; nil if none.
  public var tokenizerURL: URL? {
    let stored = attributes.tokenizerPath
    if stored.isEmpty { return nil }
    if stored.hasPrefix("/") { return URL(fileURLWithPath: stored) }
    return URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(stored)
  }

  /// The Markov source of a synthetic dataset (`CorpusError.noMarkovSource` for text data).
  public func markovSource() throws -> MarkovSource {
    guard attributes.kind == .synthetic else { throw CorpusError.noMarkovSource(path: path) }
    return try MarkovSourceFile.read(from: file, path: path)
  }

  /// Facts about the HDF5 datasets (shape, chunking), for `pgm data inspect`.
  public func datasetInfo(_ split: DatasetSplit) throws -> H5DatasetInfo {
    try file.datasetInfo(split.tokensPath)
  }

  // MARK: Reading rows

  /// Reads the rows `rows` (any order, repeats allowed) of a split into `buffer`: row `rows[i]`
  /// lands at `buffer[i * L ..< (i + 1) * L]`. The buffer must hold at least `rows.count * L`
  /// tokens; the rest is left alone.
  ///
  /// - Throws: `.rowOutOfRange`, `.bufferTooSmall`, `.tokenOutsideVocabulary`, or `H5Error` when
  ///   a chunk cannot be read (e.g. a truncated file).
  public func read(_ split: DatasetSplit, rows: [Int], into buffer: UnsafeMutableBufferPointer<Int32>) throws {
    let length = self.length
    let available = rowCount(split)
    guard buffer.count >= rows.count * length else {
      throw CorpusError.bufferTooSmall(needed: rows.count * length, available: buffer.count)
    }
    for row in rows where row < 0 || row >= available {
      throw CorpusError.rowOutOfRange(path: path, split: split, row: row, rows: available)
    }
    let dataset = datasets[split]!
    // Runs of rows consecutive in the request and in the file go in one call (e.g. evaluation
    // reading rows in order); a random batch is one call per row.
    var start = 0
    while start < rows.count {
      var end = start + 1
      while end < rows.count && rows[end] == rows[end - 1] + 1 { end += 1 }
      let destination = UnsafeMutableBufferPointer(rebasing: buffer[(start * length)..<(end * length)])
      try dataset.read(rows: rows[start]..<(rows[end - 1] + 1), into: destination)
      start = end
    }
    try checkVocabulary(split, rows: rows, buffer: UnsafeBufferPointer(buffer))
  }

  /// Reads arbitrary rows into the first `rows.count * L` elements of an array, growing it when it
  /// is shorter (never shrinking it: passing the same array each time reuses one allocation).
  public func read(_ split: DatasetSplit, rows: [Int], into buffer: inout [Int32]) throws {
    let need = rows.count * length
    if buffer.count < need { buffer.append(contentsOf: repeatElement(0, count: need - buffer.count)) }
    try buffer.withUnsafeMutableBufferPointer { try read(split, rows: rows, into: $0) }
  }

  /// Reads a range of rows as one array per row (convenient for evaluation and inspection).
  public func rows(_ split: DatasetSplit, _ range: Range<Int>) throws -> [[Int32]] {
    var flat = [Int32](repeating: 0, count: range.count * length)
    try read(split, rows: Array(range), into: &flat)
    return (0..<range.count).map { Array(flat[($0 * length)..<(($0 + 1) * length)]) }
  }

  /// Throws for the first token outside `0 ..< vocabularySize`.
  private func checkVocabulary(_ split: DatasetSplit, rows: [Int], buffer: UnsafeBufferPointer<Int32>) throws {
    let limit = UInt32(vocabularySize)
    let count = rows.count * length
    // One pass of unsigned maxima over the batch (vectorises; negative ids become huge); the
    // offending position is searched for only when something is wrong.
    var largest: UInt32 = 0
    for i in 0..<count { largest = max(largest, UInt32(bitPattern: buffer[i])) }
    guard largest >= limit else { return }
    for i in 0..<count where UInt32(bitPattern: buffer[i]) >= limit {
      throw CorpusError.tokenOutsideVocabulary(path: path, split: split, row: rows[i / length],
                                               position: i % length, token: buffer[i],
                                               vocabularySize: vocabularySize)
    }
  }
}

/// How long random batch reads take: what `pgm data inspect --time-reads` reports.
public struct BatchReadTiming: Sendable, Codable {
  public var split: DatasetSplit
  public var batchRows: Int
  public var batches: Int
  /// Mean milliseconds per batch, the first batch (cold caches) excluded.
  public var millisecondsPerBatch: Double
  /// The first batch alone.
  public var firstBatchMilliseconds: Double
}

extension TokenDataset {
  /// Times `batches` reads of `batchRows` random rows, drawn as the training loop draws them (one
  /// seeded permutation of the split, consecutive slices of it).
  public func timeRandomBatches(_ split: DatasetSplit, batchRows: Int, batches: Int, seed: UInt64 = 0) throws
    -> BatchReadTiming
  {
    let rows = rowCount(split)
    guard rows > 0, batchRows > 0, batches > 1 else {
      throw CorpusError.invalidArgument("timing needs rows in the split, a positive batch size and two batches or more")
    }
    var rng = RandomStream(seed: seed)
    var permutation = rng.permutation(rows)
    var buffer = [Int32](repeating: 0, count: batchRows * length)
    let clock = ContinuousClock()
    var first = 0.0, rest = 0.0
    var next = 0
    for index in 0..<batches {
      if next + batchRows > rows {  // a new epoch
        permutation = rng.permutation(rows)
        next = 0
      }
      let batch = Array(permutation[next..<min(rows, next + batchRows)])
      next += batchRows
      let start = clock.now
      try read(split, rows: batch, into: &buffer)
      let elapsed = seconds(clock.now - start) * 1000
      if index == 0 { first = elapsed } else { rest += elapsed }
    }
    return BatchReadTiming(split: split, batchRows: batchRows, batches: batches,
                           millisecondsPerBatch: rest / Double(batches - 1), firstBatchMilliseconds: first)
  }
}
