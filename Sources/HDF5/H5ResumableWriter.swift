// Appending rows to datasets so that a killed writer can resume without losing committed rows.
import CHDF5

/// Appends rows, in lockstep, to the extendible datasets of one group, with a commit protocol
/// that lets a writer killed at any moment (`kill -9`) resume where its last commit left off.
///
/// The protocol:
/// 1. `init` opens (or creates) the group and reads its `committed_rows` attribute (0 if new).
///    That count is authoritative: rows past it were never committed.
/// 2. `dataset(...)` opens each dataset, dropping rows past the committed count (a tail written
///    before the kill), or creates it extendible when it does not exist yet.
/// 3. The caller appends the same number of rows to every dataset (`H5Dataset.append`), then
///    calls `commit()`, which checks the datasets agree, flushes the rows to the file, records the
///    new count in `committed_rows` and flushes again. A commit that returned is never lost, even
///    if the process is killed right after it; rows appended since the last commit may be lost
///    and are dropped on the next resume.
///
/// Compressed (filtered) datasets: HDF5 re-allocates a filtered chunk each time it is rewritten
/// and may reuse the freed space before the next flush. If a chunk holding committed rows is
/// rewritten (by appending to a partially filled last chunk), a kill before the next commit can
/// leave that chunk unreadable (measured: an `inflate() failed` error within seconds of random
/// kills). So for a filtered dataset every commit must end on a chunk boundary: `commit()` throws
/// (committing nothing; append more rows and retry) unless the committed count is a multiple of
/// the dataset's chunk rows. Only the last commit may end mid-chunk, `commit(final: true)`, after
/// which the writer (and any writer resuming the file) refuses further commits. Unfiltered
/// chunks are rewritten in place with identical committed bytes and have no such rule.
///
/// Readers must only use rows below `committedRows` (or `H5ResumableWriter.committedRows(in:)`).
/// A kill leaves the file readable, but a power loss or OS crash is only covered with
/// `durable: true` (each commit then fsyncs).
public final class H5ResumableWriter: @unchecked Sendable {
  /// The attribute on the group that holds the committed row count.
  public static let committedRowsAttribute = "committed_rows"
  /// The attribute on the group set to 1 by `commit(final: true)`.
  public static let finishedAttribute = "committed_final"

  /// The group holding the datasets and the `committed_rows` attribute.
  public let group: H5Group
  /// Rows of every dataset that are committed (all of them, after a successful `commit()`).
  public private(set) var committedRows: Int
  /// Whether `commit(final: true)` was done; no commit is possible afterwards.
  public private(set) var isFinished: Bool
  /// Whether `commit()` also fsyncs (survives power loss, not only a killed process). Slower.
  /// Set it before sharing the writer between threads.
  public var durable: Bool

  private var datasets: [(name: String, rows: any H5RowStore)] = []

  /// Opens the group at `path` in `file` (opened read-write), creating it if needed, and reads the
  /// committed row count.
  public init(file: H5File, group path: String, durable: Bool = false) throws {
    self.group = try file.requireGroup(path)
    self.durable = durable
    self.committedRows = try Self.committedRows(in: group)
    self.isFinished = try group.attributes.contains(Self.finishedAttribute)
      && group.attributes.int64(Self.finishedAttribute) != 0
  }

  /// The committed row count recorded in `group` (0 if nothing was committed). Readers use it to
  /// ignore an uncommitted tail.
  public static func committedRows(in group: H5Group) throws -> Int {
    guard try group.attributes.contains(committedRowsAttribute) else { return 0 }
    let count = try group.attributes.int64(committedRowsAttribute)
    guard count >= 0 else {
      throw H5Error(kind: .invalidArgument, operation: "read committed rows", path: group.file.path,
                    object: group.name, message: "negative committed row count \(count)", stack: [])
    }
    return Int(count)
  }

  /// Opens the dataset `name` of the group, truncated to the committed rows, or creates it
  /// (extendible along the first axis, rows of `rowShape`) if it does not exist and nothing was
  /// committed yet. The element type and row shape of an existing dataset must match.
  ///
  /// - Parameters:
  ///   - chunkRows: rows per chunk. Required with compression: it is then the commit granularity
  ///     (see the type's documentation), so make it the number of rows of one batch. Without
  ///     compression, nil picks about 1 MiB per chunk.
  public func dataset<Element: H5Element>(
    _ name: String, of type: Element.Type, rowShape: [Int], chunkRows: Int? = nil,
    compression: H5Compression = .none
  ) throws -> H5Dataset<Element> {
    try H5Library.serialized {  // the library lock also guards this writer's own state
      try openDataset(name, of: type, rowShape: rowShape, chunkRows: chunkRows,
                      compression: compression)
    }
  }

  private func openDataset<Element: H5Element>(
    _ name: String, of type: Element.Type, rowShape: [Int], chunkRows: Int?,
    compression: H5Compression
  ) throws -> H5Dataset<Element> {
    let context = H5Context(operation: "open resumable dataset", path: group.file.path,
                            object: H5Paths.join(group.name, name))
    if datasets.contains(where: { $0.name == name }) {
      throw context.error("the dataset is already open in this writer", kind: .invalidArgument)
    }
    let dataset: H5Dataset<Element>
    if try group.contains(name) {
      dataset = try group.openDataset(name, of: Element.self)
      guard dataset.rowShape == rowShape, dataset.isExtendible else {
        throw context.error("the stored dataset has rows of shape \(dataset.rowShape)"
                              + (dataset.isExtendible ? "" : " and is not extendible")
                              + ", expected extendible rows of shape \(rowShape)",
                            kind: .shapeMismatch)
      }
      let rows = try dataset.rowCount
      if rows < committedRows {
        throw context.error("the dataset has \(rows) rows but \(committedRows) are committed; "
                              + "the file was changed outside this protocol", kind: .shapeMismatch)
      }
      if rows > committedRows { try dropUncommitted(dataset, rows: rows, context) }
      // A final commit may have ended mid-chunk; appending would rewrite a committed filtered
      // chunk. Decided from the count itself, so it holds even without the finished attribute.
      if let chunkRows = dataset.filteredChunkRows, committedRows % chunkRows != 0 {
        isFinished = true
      }
    } else {
      guard committedRows == 0 else {
        throw context.error("the dataset is missing although \(committedRows) rows are committed",
                            kind: .notFound)
      }
      if compression != .none && chunkRows == nil {
        throw context.error("a compressed resumable dataset needs explicit chunkRows (the commit "
                              + "granularity)", kind: .invalidArgument)
      }
      let chunk = chunkRows.map { [$0] + rowShape }
      dataset = try group.createDataset(name, of: Element.self, shape: [0] + rowShape,
                                        extendible: true, chunkShape: chunk,
                                        compression: compression)
    }
    datasets.append((name, dataset))
    return dataset
  }

  /// Shrinks a dataset to the committed rows, dropping a tail written before a kill or a failed
  /// write. HDF5 must read the tail's chunk index to drop it; when the interrupted flush left that
  /// index pointing at space it never wrote, the file cannot be resumed, and the error says so.
  private func dropUncommitted<Element: H5Element>(_ dataset: H5Dataset<Element>, rows: Int,
                                                  _ context: H5Context) throws {
    do {
      try dataset.resize(rows: committedRows)
    } catch let error as H5Error where error.kind == .library {
      throw context.error("cannot drop the \(rows - committedRows) uncommitted rows after the \(committedRows) committed "
                            + "ones: the file was damaged while they were written (a failed write or a crash during a "
                            + "flush; HDF5: \(error.hdf5Message ?? error.message)); remove it and write it again",
                          kind: .unreadableFile)
    }
  }

  /// Commits every row appended so far: checks that all datasets of this writer have the same row
  /// count, flushes the rows, records the count as `committed_rows` and flushes again (fsync too
  /// if `durable`). Returns the committed row count.
  ///
  /// - Parameter final: allows the count to end inside a chunk of a compressed dataset, and ends
  ///   the writing: later commits throw.
  @discardableResult
  public func commit(final: Bool = false) throws -> Int {
    try H5Library.serialized { try commitLocked(final: final) }
  }

  private func commitLocked(final: Bool) throws -> Int {
    let context = H5Context(operation: "commit rows", path: group.file.path, object: group.name)
    if isFinished {
      throw context.error("the rows were committed as final; nothing more can be committed",
                          kind: .invalidArgument)
    }
    var counts: [(name: String, rows: Int)] = []
    for (name, dataset) in datasets { counts.append((name, try dataset.rowCount)) }
    let distinct = Set(counts.map(\.rows))
    guard distinct.count <= 1 else {
      let listing = counts.map { "\($0.name): \($0.rows)" }.joined(separator: ", ")
      throw context.error("the datasets have different row counts (\(listing)); append the same "
                            + "rows to each before committing", kind: .shapeMismatch)
    }
    let rows = distinct.first ?? committedRows
    guard rows >= committedRows else {
      throw context.error("\(rows) rows is fewer than the \(committedRows) already committed",
                          kind: .shapeMismatch)
    }
    if !final {
      for (name, dataset) in datasets {
        guard let chunkRows = dataset.filteredChunkRows, rows % chunkRows != 0 else { continue }
        throw context.error("\(rows) rows end inside a chunk of the compressed dataset '\(name)' "
                              + "(\(chunkRows) rows per chunk); commit whole chunks, or use "
                              + "commit(final: true) for the last rows", kind: .invalidArgument)
      }
    }
    try checkRoom(forRows: rows, context)
    // Two flushes, so that the file on disk never claims rows it does not hold: the first puts the
    // rows (raw data, chunk index, extent) on disk while the old count still stands; only then is
    // the count raised, and the second flush writes little more than that attribute.
    try group.file.flush(durable: durable)
    if final { try group.attributes.set(Self.finishedAttribute, Int64(1)) }
    try group.attributes.set(Self.committedRowsAttribute, Int64(rows))
    try group.file.flush(durable: durable)
    committedRows = rows
    isFinished = final
    return rows
  }

  /// Throws `.ioFailure`, before anything is flushed, if the file system (or the file size limit)
  /// clearly has no room for the rows to commit. A flush that runs out of space half way can
  /// leave even committed rows unreachable: HDF5 rewrites chunk-index nodes in place before the
  /// new space they point to is written. Refusing first keeps the file as of the last commit; the
  /// file is cut off (H5WriteFailure.swift) so that no later flush writes the pending rows either.
  /// The need is an estimate (raw bytes, an eighth more, room for index and header growth); a
  /// wrong one only means the failure strikes in the flush instead, which is still survivable.
  private func checkRoom(forRows rows: Int, _ context: H5Context) throws {
    var pending = 0
    for (_, dataset) in datasets { pending += (rows - committedRows) * dataset.bytesPerRow }
    guard pending > 0, let room = H5FreeSpace.room(forFileAt: group.file.path) else { return }
    let needed = pending + pending / 8 + (64 << 10) + datasets.count * (16 << 10)
    guard room.bytes < needed else { return }
    let cause = "no room to commit \(rows - committedRows) rows (about \(needed) bytes needed; \(room.limitedBy))"
    group.file.cutOff(after: cause)
    throw context.error(cause + "; they were not committed and the file keeps its \(committedRows) committed rows: "
                          + "free space and run again", kind: .ioFailure)
  }
}

/// What the writer needs from a dataset of any element type.
protocol H5RowStore {
  var rowCount: Int { get throws }
  /// Rows per chunk if the chunks are filtered (compressed), nil otherwise.
  var filteredChunkRows: Int? { get }
  /// Bytes of one row, uncompressed.
  var bytesPerRow: Int { get }
}

extension H5Dataset: H5RowStore {
  var filteredChunkRows: Int? { isFiltered ? chunkShape?.first : nil }
  var bytesPerRow: Int { elementsPerRow * MemoryLayout<Element>.stride }
}
