import Crypto
import Engine
import Formats
import MaskedDiffusion
import Foundation
import HDF5
import Teacher

/// A round's teacher targets on disk (`round-<r>/targets.h5`), layout version 1.
///
///     /                        attributes: layout_version, round, dt, k, spacing, top_k, vocab_size (V, with
///                              the mask), mask_id, length, seed, teacher_sha256, leaky, time_epsilon,
///                              rows_planned, batch_rows, entry_chunk, times, clean_prefix (positions never
///                              masked in x_t: 1 keeps the BOS clean; absent in older files: 0), teacher_order
///     /rows/inputs             int32   [N, L]   x_t: the masked inputs (mask id where masked)
///     /rows/times              float64 [N]      t of each row
///     /rows/entry_start        int64   [N]      first entry of the row in /entries
///     /rows/entry_count        int32   [N]      entries of the row = its masked positions, in position order
///     /entries/ids             int32   [M, K]   top-K token ids per masked position, most probable first
///                                                (−1 pads rows with fewer than K tokens, and padding entries)
///     /entries/log_probs       float32 [M, K]   their teacher log-probabilities
///     /entries/tail_log_mass   float32 [M]      log of the mass of all other tokens (−∞ when K ≥ V−1)
///
/// All datasets are chunked and deflate-compressed. Writing is incremental and crash-safe: each batch
/// appends its entries (padded with unused entries to whole chunks of `entry_chunk`), commits them,
/// then appends and commits its rows (`committed_rows` on each group, see `H5ResumableWriter`). Rows
/// are authoritative: on reopening, entries beyond the last committed row's chunk are dropped, and
/// generation continues at the next row. Readers look only at committed rows and their entry ranges.
public enum TargetStore {
  public static let layoutVersion = 1

  /// Everything that identifies whose targets these are; a mismatch on resume or read is an error.
  public struct Header: Equatable, Sendable {
    public var round: Int
    public var dt: Double
    public var k: Int
    public var spacing: TeacherSpacing
    public var times: TargetTimes = .uniform
    /// Positions 0..<cleanPrefix are never masked in x_t.
    public var cleanPrefix: Int = 0
    /// Which positions the teacher's steps reveal (absent in older files: random).
    public var order: RevealOrder = .random
    public var topK: Int
    public var vocabSize: Int
    public var maskId: Int
    public var length: Int
    public var seed: UInt64
    public var teacherSHA256: String
    public var leaky: Bool
    public var timeEpsilon: Double
    public var rowsPlanned: Int
    public var batchRows: Int
    /// Entries per chunk of the /entries datasets (the commit granularity there).
    public var entryChunk: Int

    public init(round: Int, dt: Double, k: Int, spacing: TeacherSpacing, topK: Int, vocabSize: Int, maskId: Int,
                length: Int, seed: UInt64, teacherSHA256: String, leaky: Bool, timeEpsilon: Double, rowsPlanned: Int,
                batchRows: Int, entryChunk: Int, times: TargetTimes = .uniform, cleanPrefix: Int = 0,
                order: RevealOrder = .random) {
      self.round = round; self.dt = dt; self.k = k; self.spacing = spacing; self.topK = topK; self.vocabSize = vocabSize
      self.maskId = maskId; self.length = length; self.seed = seed; self.teacherSHA256 = teacherSHA256; self.leaky = leaky
      self.timeEpsilon = timeEpsilon; self.rowsPlanned = rowsPlanned; self.batchRows = batchRows; self.entryChunk = entryChunk
      self.times = times
      self.cleanPrefix = cleanPrefix
      self.order = order
    }

    func write(_ a: H5Attributes) throws {
      try a.set("layout_version", TargetStore.layoutVersion)
      try a.set("round", round); try a.set("dt", dt); try a.set("k", k); try a.set("spacing", spacing.rawValue)
      try a.set("top_k", topK); try a.set("vocab_size", vocabSize); try a.set("mask_id", maskId)
      try a.set("length", length); try a.set("seed", Int64(bitPattern: seed)); try a.set("teacher_sha256", teacherSHA256)
      try a.set("leaky", leaky ? 1 : 0); try a.set("time_epsilon", timeEpsilon); try a.set("rows_planned", rowsPlanned)
      try a.set("batch_rows", batchRows); try a.set("entry_chunk", entryChunk)
      try a.set("times", times.rawValue)
      try a.set("clean_prefix", cleanPrefix)
      try a.set("teacher_order", order.rawValue)
    }

    static func read(_ a: H5Attributes, path: String) throws -> Header {
      guard try a.contains("layout_version") else { throw TargetStoreError.notTargets(path, "no layout_version attribute") }
      let version = try a.int64("layout_version")
      guard version == Int64(TargetStore.layoutVersion) else {
        throw TargetStoreError.notTargets(path, "layout version \(version), this program reads \(TargetStore.layoutVersion)")
      }
      guard let spacing = TeacherSpacing(rawValue: try a.string("spacing")) else {
        throw TargetStoreError.notTargets(path, "unknown spacing")
      }
      // Files written before the `times` attribute existed drew times uniformly.
      var times = TargetTimes.uniform
      if try a.contains("times") {
        guard let t = TargetTimes(rawValue: try a.string("times")) else { throw TargetStoreError.notTargets(path, "unknown times") }
        times = t
      }
      return Header(round: Int(try a.int64("round")), dt: try a.double("dt"), k: Int(try a.int64("k")), spacing: spacing,
                    topK: Int(try a.int64("top_k")), vocabSize: Int(try a.int64("vocab_size")),
                    maskId: Int(try a.int64("mask_id")), length: Int(try a.int64("length")),
                    seed: UInt64(bitPattern: try a.int64("seed")), teacherSHA256: try a.string("teacher_sha256"),
                    leaky: try a.int64("leaky") != 0, timeEpsilon: try a.double("time_epsilon"),
                    rowsPlanned: Int(try a.int64("rows_planned")), batchRows: Int(try a.int64("batch_rows")),
                    entryChunk: Int(try a.int64("entry_chunk")), times: times,
                    cleanPrefix: try a.contains("clean_prefix") ? Int(try a.int64("clean_prefix")) : 0,
                    order: try a.contains("teacher_order") ? try order(a.string("teacher_order"), path) : .random)
    }

    static func order(_ text: String, _ path: String) throws -> RevealOrder {
      guard let o = RevealOrder(rawValue: text) else { throw TargetStoreError.notTargets(path, "unknown teacher_order '\(text)'") }
      return o
    }

    /// The first field that differs, for error messages.
    func difference(from other: Header) -> String? {
      if teacherSHA256 != other.teacherSHA256 {
        return "teacher weights differ (SHA-256 \(teacherSHA256.prefix(12))… vs \(other.teacherSHA256.prefix(12))…)"
      }
      if vocabSize != other.vocabSize || maskId != other.maskId { return "vocabulary differs (V \(vocabSize) vs \(other.vocabSize))" }
      if length != other.length { return "sequence length differs (\(length) vs \(other.length))" }
      if self != other { return "settings differ (round, dt, k, spacing, times, clean prefix, teacher order, top_k, seed, normalisation or batch layout)" }
      return nil
    }
  }

  /// SHA-256 (hex) of a file, e.g. the teacher's `model.safetensors`.
  public static func sha256(of url: URL) throws -> String {
    guard let handle = try? FileHandle(forReadingFrom: url) else { throw TargetStoreError.io(url.path, "cannot read") }
    defer { try? handle.close() }
    var hasher = SHA256()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
  }
}

public enum TargetStoreError: Error, CustomStringConvertible {
  case notTargets(String, String)
  case mismatch(String, String)
  case io(String, String)
  case corrupt(String, String)
  public var description: String {
    switch self {
    case .notTargets(let p, let m): return "\(p) is not a targets file of this program: \(m)"
    case .mismatch(let p, let m): return "\(p) belongs to another run: \(m). Remove it to regenerate the targets."
    case .io(let p, let m): return "\(p): \(m)"
    case .corrupt(let p, let m): return "\(p) is damaged: \(m). Remove it to regenerate the targets."
    }
  }
}

/// Appends target batches to a targets file, resuming an interrupted one.
public final class TargetWriter {
  public let path: String
  public let header: Header
  public typealias Header = TargetStore.Header
  let file: H5File
  let rows: H5ResumableWriter, entries: H5ResumableWriter
  let inputs: H5Dataset<Int32>, times: H5Dataset<Double>, entryStart: H5Dataset<Int64>, entryCount: H5Dataset<Int32>
  let ids: H5Dataset<Int32>, logProbs: H5Dataset<Float>, tails: H5Dataset<Float>
  /// Rows committed so far (generation resumes at this row).
  public var committedRows: Int { rows.committedRows }
  public var isFinished: Bool { rows.isFinished }

  /// Opens `path` for appending: creates it, or checks an existing file against `header` and drops
  /// whatever an interrupted writer left uncommitted.
  public init(path: String, header: Header) throws {
    self.path = path
    self.header = header
    if !FileManager.default.fileExists(atPath: path) { try TargetWriter.createEmpty(path, header: header) }
    do {
      file = try H5File.open(path, mode: .readWrite)
      let stored = try Header.read(file.attributes, path: path)
      if let diff = stored.difference(from: header) { throw TargetStoreError.mismatch(path, diff) }
      try TargetWriter.alignEntries(file, path: path, entryChunk: header.entryChunk)
      (rows, entries, inputs, times, entryStart, entryCount, ids, logProbs, tails) = try TargetWriter.openDatasets(file, header: header)
    } catch let error as H5Error where error.kind == .unreadableFile || error.kind == .library {
      // E.g. left half-flushed by a full disk: say what to do, not only what HDF5 saw.
      throw TargetStoreError.corrupt(path, "it cannot be resumed (\(error))")
    }
  }

  /// Creates the file complete (attributes, groups, empty datasets) under a temporary name and
  /// renames it: a kill while HDF5 writes its first blocks must not leave an unopenable file.
  static func createEmpty(_ path: String, header: Header) throws {
    try AtomicFile.build(URL(fileURLWithPath: path)) { tmp in
      let file = try H5File.create(tmp.path, mode: .truncate)
      try header.write(file.attributes)
      _ = try TargetWriter.openDatasets(file, header: header)
      try file.flush(durable: true)
      try file.close()
    }
  }

  typealias Datasets = (rows: H5ResumableWriter, entries: H5ResumableWriter, inputs: H5Dataset<Int32>, times: H5Dataset<Double>,
                        entryStart: H5Dataset<Int64>, entryCount: H5Dataset<Int32>, ids: H5Dataset<Int32>,
                        logProbs: H5Dataset<Float>, tails: H5Dataset<Float>)

  static func openDatasets(_ file: H5File, header: Header) throws -> Datasets {
    let l = header.length, k = min(header.topK, header.vocabSize - 1)
    let deflate = H5Compression.deflate(level: 4, shuffle: true)
    let rows = try H5ResumableWriter(file: file, group: "rows")
    let inputs = try rows.dataset("inputs", of: Int32.self, rowShape: [l], chunkRows: header.batchRows, compression: deflate)
    let times = try rows.dataset("times", of: Double.self, rowShape: [], chunkRows: header.batchRows, compression: deflate)
    let entryStart = try rows.dataset("entry_start", of: Int64.self, rowShape: [], chunkRows: header.batchRows, compression: deflate)
    let entryCount = try rows.dataset("entry_count", of: Int32.self, rowShape: [], chunkRows: header.batchRows, compression: deflate)
    let entries = try H5ResumableWriter(file: file, group: "entries")
    let ids = try entries.dataset("ids", of: Int32.self, rowShape: [k], chunkRows: header.entryChunk, compression: deflate)
    let logProbs = try entries.dataset("log_probs", of: Float.self, rowShape: [k], chunkRows: header.entryChunk, compression: deflate)
    let tails = try entries.dataset("tail_log_mass", of: Float.self, rowShape: [], chunkRows: header.entryChunk, compression: deflate)
    return (rows, entries, inputs, times, entryStart, entryCount, ids, logProbs, tails)
  }

  /// Entries committed past the last committed row's chunk (a kill between the two commits of a
  /// batch) are dropped, so the entries continue exactly where that batch's commit ended.
  static func alignEntries(_ file: H5File, path: String, entryChunk: Int) throws {
    guard try file.contains("rows"), try file.contains("entries") else { return }
    let rowsGroup = try file.openGroup("rows"), entriesGroup = try file.openGroup("entries")
    let committed = try H5ResumableWriter.committedRows(in: rowsGroup)
    var end = 0
    if committed > 0 {
      let start = try rowsGroup.openDataset("entry_start", of: Int64.self).read(rows: (committed - 1)..<committed)[0]
      let count = try rowsGroup.openDataset("entry_count", of: Int32.self).read(rows: (committed - 1)..<committed)[0]
      end = (Int(start) + Int(count) + entryChunk - 1) / entryChunk * entryChunk
    }
    let entriesCommitted = try H5ResumableWriter.committedRows(in: entriesGroup)
    guard entriesCommitted >= end else {
      throw TargetStoreError.corrupt(path, "\(committed) rows are committed but only \(entriesCommitted) of their \(end) entries")
    }
    if entriesCommitted > end {
      for name in ["ids", "log_probs", "tail_log_mass"] where try entriesGroup.contains(name) {
        switch name {
        case "ids": try entriesGroup.openDataset(name, of: Int32.self).resize(rows: end)
        default: try entriesGroup.openDataset(name, of: Float.self).resize(rows: end)
        }
      }
      try entriesGroup.attributes.set(H5ResumableWriter.committedRowsAttribute, end)
      try file.flush()
    }
  }

  /// Appends one batch (its rows and their masked positions' targets) and commits it. Every batch
  /// but the last must have `batchRows` rows.
  public func append(_ batch: TargetBatch, final: Bool) throws {
    let n = batch.inputs.shape[0], k = batch.targets.k
    guard batch.inputs.shape[1] == header.length, k == min(header.topK, header.vocabSize - 1) else {
      throw TargetStoreError.mismatch(path, "batch of rows \(batch.inputs.shape) with K = \(k)")
    }
    guard n == header.batchRows || final else {
      throw TargetStoreError.io(path, "only the last batch may hold fewer than \(header.batchRows) rows")
    }
    let mask = Int32(header.maskId)
    var counts = [Int32](repeating: 0, count: n)
    for i in 0..<n { for j in 0..<header.length where batch.inputs[i, j] == mask { counts[i] += 1 } }
    let m = counts.reduce(0) { $0 + Int($1) }
    guard m == batch.targets.rows else {
      throw TargetStoreError.io(path, "\(batch.targets.rows) targets for \(m) masked positions")
    }
    // Entries first, padded to whole chunks, then the rows that point at them.
    let firstEntry = try ids.rowCount
    let padded = (m + header.entryChunk - 1) / header.entryChunk * header.entryChunk
    let pad = padded - m
    _ = try ids.append(batch.targets.ids + [Int32](repeating: -1, count: pad * k))
    _ = try logProbs.append(batch.targets.logProbs + [Float](repeating: 0, count: pad * k))
    _ = try tails.append(batch.targets.tailLogMass + [Float](repeating: -.infinity, count: pad))
    try entries.commit(final: false)
    FileSystemSteps.step(path + " entries")
    var starts = [Int64](repeating: 0, count: n)
    var at = Int64(firstEntry)
    for i in 0..<n { starts[i] = at; at += Int64(counts[i]) }
    _ = try inputs.append(batch.inputs.values)
    _ = try times.append(batch.times)
    _ = try entryStart.append(starts)
    _ = try entryCount.append(counts)
    try rows.commit(final: final)
    FileSystemSteps.step(path + " rows")
  }

  public func close() throws { try file.close() }
}

/// Reads committed target rows, checking the file against what the reader expects.
public final class TargetReader: @unchecked Sendable {
  public let path: String
  public let header: TargetStore.Header
  public let rowCount: Int
  let file: H5File
  let inputs: H5Dataset<Int32>, times: H5Dataset<Double>, entryStart: H5Dataset<Int64>, entryCount: H5Dataset<Int32>
  let ids: H5Dataset<Int32>, logProbs: H5Dataset<Float>, tails: H5Dataset<Float>
  let entriesCommitted: Int

  /// `expected`: the header this run would write; any difference (another teacher's weights,
  /// another vocabulary or length, other settings) is an error naming it.
  public init(path: String, expected: TargetStore.Header? = nil) throws {
    guard FileManager.default.fileExists(atPath: path) else { throw TargetStoreError.io(path, "file not found") }
    self.path = path
    file = try H5File.open(path, mode: .readOnly)
    header = try TargetStore.Header.read(file.attributes, path: path)
    if let expected, let diff = header.difference(from: expected) { throw TargetStoreError.mismatch(path, diff) }
    do {
      let rowsGroup = try file.openGroup("rows"), entriesGroup = try file.openGroup("entries")
      rowCount = try H5ResumableWriter.committedRows(in: rowsGroup)
      entriesCommitted = try H5ResumableWriter.committedRows(in: entriesGroup)
      inputs = try rowsGroup.openDataset("inputs", of: Int32.self)
      times = try rowsGroup.openDataset("times", of: Double.self)
      entryStart = try rowsGroup.openDataset("entry_start", of: Int64.self)
      entryCount = try rowsGroup.openDataset("entry_count", of: Int32.self)
      ids = try entriesGroup.openDataset("ids", of: Int32.self)
      logProbs = try entriesGroup.openDataset("log_probs", of: Float.self)
      tails = try entriesGroup.openDataset("tail_log_mass", of: Float.self)
    } catch let e as TargetStoreError {
      throw e
    } catch {
      throw TargetStoreError.corrupt(path, "\(error)")
    }
    guard inputs.rowShape == [header.length], ids.rowShape == [min(header.topK, header.vocabSize - 1)] else {
      throw TargetStoreError.corrupt(path, "datasets have rows of \(inputs.rowShape) / \(ids.rowShape)")
    }
  }

  /// The batch of target rows `rows` (any order), with their entries in the same order.
  public func batch(rows: [Int]) throws -> TargetBatch {
    let l = header.length, k = ids.rowShape[0], v = header.vocabSize
    var tokens: [Int32] = [], t: [Double] = []
    var allIds: [Int32] = [], allLP: [Float] = [], allTails: [Float] = []
    tokens.reserveCapacity(rows.count * l)
    for r in rows {
      guard r >= 0 && r < rowCount else { throw TargetStoreError.io(path, "row \(r) outside the \(rowCount) committed rows") }
      let x = try inputs.read(rows: r..<(r + 1))
      let start = Int(try entryStart.read(rows: r..<(r + 1))[0]), count = Int(try entryCount.read(rows: r..<(r + 1))[0])
      let masked = x.filter { $0 == Int32(header.maskId) }.count
      guard count == masked, start >= 0, start + count <= entriesCommitted,
            x.allSatisfy({ $0 >= 0 && Int($0) < v }) else {
        throw TargetStoreError.corrupt(path, "row \(r): \(count) entries at \(start) for \(masked) masked positions")
      }
      tokens += x
      t += try times.read(rows: r..<(r + 1))
      if count > 0 {
        let e = start..<(start + count)
        let idRows = try ids.read(rows: e)
        guard idRows.allSatisfy({ $0 >= -1 && Int($0) < v && Int($0) != header.maskId }) else {
          throw TargetStoreError.corrupt(path, "row \(r): a target id outside the vocabulary")
        }
        allIds += idRows
        allLP += try logProbs.read(rows: e)
        allTails += try tails.read(rows: e)
      }
    }
    guard allLP.allSatisfy({ $0.isFinite }), allTails.allSatisfy({ !$0.isNaN }) else {
      throw TargetStoreError.corrupt(path, "non-finite target log-probabilities")
    }
    return TargetBatch(inputs: TokenTensor(shape: [rows.count, l], values: tokens), times: t,
                       targets: SparseDistributions(rows: allTails.count, k: k, ids: allIds, logProbs: allLP, tailLogMass: allTails))
  }
}
