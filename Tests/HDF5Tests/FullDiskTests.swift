// A disk that fills up while a resumable writer appends, commits, sets attributes and closes.
// HDF5 1.10 used to crash here (exit 139 in H5Dclose / at exit, after a failed flush; see
// H5WriteFailure.swift). Now every failure must end in a thrown error naming the file and the
// cause, the process must exit normally, and the file left behind must either be refused on open
// or resume with every committed row intact. The writer is this test binary in a child process
// (TestSupport's LimitedDisk: a tiny tmpfs where the sandbox allows mounting one, a file size
// limit everywhere); the limits are spread so the failure strikes at different points.
import Foundation
import Testing
import TestSupport
@testable import HDF5

private let fileVariable = "PGM_HDF5_FULL_DISK_FILE"
private let modeVariable = "PGM_HDF5_FULL_DISK_MODE"

/// Row i of the "values" and "index" datasets is determined by i, so any committed row can be checked.
private enum FullDiskData {
  static let width = 32
  static let chunkRows = 32
  static let batches = 200

  static func value(_ i: Int, _ j: Int) -> Float { Float((i &* 131 &+ j &* 7) % 997) - 0.5 }

  static func open(_ file: H5File) throws -> (H5ResumableWriter, H5Dataset<Float>, H5Dataset<Int64>) {
    let writer = try H5ResumableWriter(file: file, group: "rows")
    let values = try writer.dataset("values", of: Float.self, rowShape: [width], chunkRows: chunkRows,
                                    compression: .deflate(level: 1))
    let index = try writer.dataset("index", of: Int64.self, rowShape: [], chunkRows: 100)
    return (writer, values, index)
  }

  /// Appends one chunk of rows after the committed ones (not committed).
  static func append(_ writer: H5ResumableWriter, _ values: H5Dataset<Float>, _ index: H5Dataset<Int64>) throws {
    let rows = writer.committedRows ..< writer.committedRows + chunkRows
    try values.append(rows.flatMap { i in (0..<width).map { value(i, $0) } })
    try index.append(rows.map { Int64($0) })
  }

  /// Whether rows 0..<count of both datasets hold what was written.
  static func intact(_ values: H5Dataset<Float>, _ index: H5Dataset<Int64>, count: Int) throws -> Bool {
    guard count > 0 else { return true }
    let stored = try values.read(rows: 0..<count), ids = try index.read(rows: 0..<count)
    for i in 0..<count where ids[i] != Int64(i) || (0..<width).contains(where: { stored[i * width + $0] != value(i, $0) }) {
      return false
    }
    return true
  }
}

@Suite struct FullDiskTests {
  /// The child. `commits`: append, set an attribute and commit, batch after batch (the failure
  /// strikes in a commit's flush). `close`: a few commits, then many batches appended without a
  /// commit and a close, which must flush them. `bulk`: a few commits, then one append larger than
  /// the chunk cache, whose evicted chunks are written during the append. Each commit and the
  /// error that ends it all are reported.
  @Test func fullDiskWriterProcess() throws {
    guard let path = ProcessInfo.processInfo.environment[fileVariable],
          let mode = ProcessInfo.processInfo.environment[modeVariable] else { return }  // an ordinary run
    LimitedDisk.applyInChild()
    do {
      let file = try H5File.create(path)
      let (writer, values, index) = try FullDiskData.open(file)
      for batch in 0..<(mode == "commits" ? FullDiskData.batches : 3) {
        try FullDiskData.append(writer, values, index)
        // A string of changing length: the attribute is deleted and recreated in the object header.
        try file.attributes.set("note", String(repeating: "x", count: (batch * 53) % 700))
        try writer.commit()
        LimitedDisk.report("committed \(writer.committedRows)")
      }
      switch mode {
      case "close":
        for _ in 0..<FullDiskData.batches { try FullDiskData.append(writer, values, index) }
      case "bulk":
        let rows = (40 << 20) / (4 * FullDiskData.width)  // 40 MiB, more than the 32 MiB chunk cache
        try values.append([Float](repeating: 1.5, count: rows * FullDiskData.width))
      default:
        break
      }
      try file.close()
      LimitedDisk.report("closed")
    } catch let error as H5Error {
      LimitedDisk.report("error \(error.kind.rawValue) in \(error.operation): \(error)")
    }
    // Released above, whatever state they were in; this process must now refuse to reopen the
    // file rather than reuse HDF5's broken state of it.
    do {
      _ = try H5File.open(path, mode: .readWrite)
      LimitedDisk.report("reopened")
    } catch let error as H5Error {
      LimitedDisk.report("reopen refused: \(error.kind.rawValue)")
    }
  }

  /// Limits and child modes, spread so that failures strike in commits (refused before the flush
  /// for want of room, or in the flush itself), in the close and in an append (chunk eviction),
  /// at different amounts of data already committed.
  @Test func theSystemCauseIsReadFromTheDriversMessage() {
    let write = "H5FD__sec2_write: file write failed: time = Mon Nov 30 20:08:09 2026 , filename = 'f.h5', file descriptor = 6, "
      + "errno = 28, error message = 'No space left on device', buf = 0x1, total write size = 206"
    #expect(H5SystemFailure.cause(in: ["H5Fflush: unable to flush", write]) == "No space left on device (errno 28)")
    #expect(H5SystemFailure.cause(in: ["H5FD_sec2_open: unable to open file: name = 'x', errno = 2, "
      + "error message = 'No such file or directory'"]) == nil)  // nothing open to cut off
    #expect(H5SystemFailure.cause(in: ["H5Dwrite: can't write data"]) == nil)
  }

  static let tmpfsCases: [(LimitedDisk, String)] = [
    (.tmpfs(kib: 8), "commits"), (.tmpfs(kib: 160), "commits"), (.tmpfs(kib: 320), "commits"),
    (.tmpfs(kib: 160), "close"), (.tmpfs(kib: 240), "close"), (.tmpfs(kib: 160), "bulk"), (.tmpfs(kib: 320), "bulk"),
  ]
  static let fileSizeCases: [(LimitedDisk, String)] = [
    (.fileSizeLimit(bytes: 1_500), "commits"), (.fileSizeLimit(bytes: 150_000), "commits"),
    (.fileSizeLimit(bytes: 300_000), "commits"), (.fileSizeLimit(bytes: 150_000), "close"),
    (.fileSizeLimit(bytes: 250_000), "close"), (.fileSizeLimit(bytes: 150_000), "bulk"), (.fileSizeLimit(bytes: 300_000), "bulk"),
  ]

  @Test(.enabled(if: LimitedDisk.canMountTmpfs, "unshare -rm cannot mount a tmpfs here"))
  func aFullTmpfsEndsInAnErrorAndTheFileResumes() throws {
    try Self.check(Self.tmpfsCases, causes: ["No space left on device", "the file system has"])
  }

  @Test func aFileSizeLimitEndsInAnErrorAndTheFileResumes() throws {
    try Self.check(Self.fileSizeCases, causes: ["File too large", "the file size limit (ulimit -f) allows"])
  }

  /// `causes`: what the error may name, the system error or (for a commit refused before its
  /// flush) the room that was left.
  static func check(_ cases: [(limit: LimitedDisk, mode: String)], causes: [String]) throws {
    let scratch = try Scratch("full-disk")
    defer { scratch.remove() }
    var failedOperations = Set<String>()
    var resumed = 0
    for (n, (limit, mode)) in cases.enumerated() {
      let folder = scratch.url.appendingPathComponent("disk-\(n)")
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      let path = folder.appendingPathComponent("rows.h5").path
      let outcome = try limit.run(test: "fullDiskWriterProcess", folder: folder,
                                  environment: [fileVariable: path, modeVariable: mode])
      #expect(outcome.status == 0, "\(limit): the writer exited with status \(outcome.status)")
      let committed = outcome.reports.compactMap { $0.hasPrefix("committed ") ? Int($0.dropFirst(10)) : nil }.last ?? 0
      guard let error = outcome.reports.first(where: { $0.hasPrefix("error ") }) else {
        Issue.record("\(limit): no write failed (\(outcome.reports.last ?? "no report")); lower the limit")
        continue
      }
      #expect(error.hasPrefix("error ioFailure") && error.contains(path) && causes.contains { error.contains($0) },
              "\(limit): \(error)")
      failedOperations.insert(String(error.split(separator: ":")[0].dropFirst("error ioFailure in ".count)))
      if outcome.reports.contains("reopened") { Issue.record("\(limit): the writer process reopened the file it cut off") }

      // Space is available again (the parent has no limit): the file resumes or is refused.
      let after = outcome.files.appendingPathComponent("rows.h5").path
      let file: H5File, writer: H5ResumableWriter, values: H5Dataset<Float>, index: H5Dataset<Int64>
      do {
        file = try H5File.open(after, mode: .readWrite)
        (writer, values, index) = try FullDiskData.open(file)
      } catch let refusal as H5Error {
        #expect([.unreadableFile, .fileNotFound].contains(refusal.kind) && refusal.path == after, "\(limit): \(refusal)")
        print("\(limit), \(mode): \(error.prefix(50))…; refused on open (\(committed) rows had been committed): "
          + refusal.description.prefix(300))
        continue
      }
      #expect(writer.committedRows >= committed, "\(limit): \(committed) rows were committed, the file holds \(writer.committedRows)")
      #expect(try FullDiskData.intact(values, index, count: writer.committedRows), "\(limit): committed rows are damaged")
      try FullDiskData.append(writer, values, index)
      try writer.commit()
      let total = writer.committedRows
      try file.close()
      let reopened = try H5File.open(after)
      let group = try reopened.openGroup("rows")
      #expect(try H5ResumableWriter.committedRows(in: group) == total)
      #expect(try FullDiskData.intact(group.openDataset("values", of: Float.self), group.openDataset("index", of: Int64.self),
                                      count: total))
      resumed += 1
      print("\(limit), \(mode): \(error.prefix(50))…; resumed at \(total - FullDiskData.chunkRows) of \(committed) committed rows")
    }
    print("failed operations: \(failedOperations.sorted()); \(resumed) of \(cases.count) files resumed")
    #expect(failedOperations.isSuperset(of: ["commit rows", "close file", "append rows"]), "\(failedOperations)")
    #expect(resumed > 0)
  }
}
