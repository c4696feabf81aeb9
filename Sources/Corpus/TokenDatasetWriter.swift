import Foundation
import HDF5

/// Writes a token dataset file in the layout of `TokenDatasetLayout`.
///
/// The file is written as `path.partial` and renamed to `path` by `finish`, so a killed run never
/// leaves a file that looks complete. Rows are buffered and appended one whole chunk at a time:
/// each compressed chunk is then written exactly once.
final class TokenDatasetWriter {
  let path: String
  let partialPath: String
  let file: H5File
  let length: Int
  private var splits: [DatasetSplit: SplitRowWriter] = [:]
  private var finished = false

  /// Creates `path.partial` and writes the root attributes. Throws `outputExists` if `path` exists
  /// and `overwrite` is false.
  init(path: String, attributes: TokenDatasetAttributes, overwrite: Bool) throws {
    let fm = FileManager.default
    if fm.fileExists(atPath: path) && !overwrite { throw CorpusError.outputExists(path: path) }
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
    try fm.createDirectory(at: folder, withIntermediateDirectories: true)
    self.path = path
    self.partialPath = path + ".partial"
    self.length = attributes.length
    self.file = try H5File.create(partialPath, mode: .truncate)
    try attributes.write(to: file.attributes)
    for split in DatasetSplit.allCases {
      let dataset = try file.createDataset(
        split.tokensPath, of: Int32.self, shape: [0, length], extendible: true,
        chunkShape: [TokenDatasetLayout.chunkRows(length: length), length],
        compression: TokenDatasetLayout.compression)
      splits[split] = SplitRowWriter(dataset: dataset, length: length)
    }
  }

  /// The row writer of one split.
  func rows(_ split: DatasetSplit) -> SplitRowWriter { splits[split]! }

  /// Writes the buffered rows and the split statistics, closes the file and moves it into place.
  func finish(statistics: [DatasetSplit: SplitStatistics], validationFiles: [String]? = nil) throws {
    typealias A = TokenDatasetLayout.Attribute
    for split in DatasetSplit.allCases {
      try splits[split]!.flush()
      let stats = statistics[split] ?? SplitStatistics(rows: splits[split]!.rowsWritten, documents: 0,
                                                       tokens: 0, droppedTokens: 0)
      let group = try file.openGroup("/" + split.rawValue)
      try group.attributes.set(A.documents, stats.documents)
      try group.attributes.set(A.tokens, stats.tokens)
      try group.attributes.set(A.droppedTokens, stats.droppedTokens)
    }
    if let validationFiles {
      try file.openGroup("/validation").attributes.set(A.validationFiles, validationFiles.joined(separator: "\n"))
    }
    try file.close()
    let fm = FileManager.default
    if fm.fileExists(atPath: path) { try fm.removeItem(atPath: path) }
    try fm.moveItem(atPath: partialPath, toPath: path)
    finished = true
  }

  /// Closes and deletes the partial file (after a failure).
  func abandon() {
    guard !finished else { return }
    try? file.close()
    try? FileManager.default.removeItem(atPath: partialPath)
  }
}

/// Appends rows of one split, a whole chunk at a time.
final class SplitRowWriter {
  let dataset: H5Dataset<Int32>
  let length: Int
  let chunkRows: Int
  private var buffer: [Int32] = []
  private(set) var rowsWritten = 0

  init(dataset: H5Dataset<Int32>, length: Int) {
    self.dataset = dataset
    self.length = length
    self.chunkRows = TokenDatasetLayout.chunkRows(length: length)
    buffer.reserveCapacity(chunkRows * length)
  }

  /// Appends one row of exactly `length` tokens.
  func append<Row: Collection>(row: Row) throws where Row.Element == Int32 {
    precondition(row.count == length, "a row has \(length) tokens")
    buffer.append(contentsOf: row)
    if buffer.count == chunkRows * length { try flush() }
  }

  /// Writes the buffered rows (a partial chunk only at the end).
  func flush() throws {
    guard !buffer.isEmpty else { return }
    try dataset.append(buffer)
    rowsWritten += buffer.count / length
    buffer.removeAll(keepingCapacity: true)
  }
}
