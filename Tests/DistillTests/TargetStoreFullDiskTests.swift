import Distill
import Foundation
import HDF5
import Teacher
import Testing
import TestSupport

private let fileVariable = "PGM_TARGETS_FULL_DISK_FILE"

/// A disk that fills up while teacher targets are written (the target writer used to die with a
/// segfault in H5Dclose here): the writer must throw an error naming the file and the cause and
/// exit normally, and the next run must resume after the last committed batch or refuse the file
/// with a clear error. The writer is this test binary in a child process (TestSupport's
/// LimitedDisk: a tmpfs where the sandbox allows mounting one, else a file size limit).
@Suite struct TargetStoreFullDiskTests {
  static let batches = 300

  @Test func targetWriterProcess() throws {
    guard let path = ProcessInfo.processInfo.environment[fileVariable] else { return }  // an ordinary run
    LimitedDisk.applyInChild()
    do {
      let writer = try TargetWriter(path: path, header: header(rows: 8 * Self.batches))
      for i in 0..<Self.batches {
        try writer.append(fakeBatch(i, rows: 8), final: i == Self.batches - 1)
        LimitedDisk.report("committed \(writer.committedRows)")
      }
      try writer.close()
      LimitedDisk.report("closed")
    } catch {
      LimitedDisk.report("error \(error)")
    }
  }

  static let limits: [LimitedDisk] = LimitedDisk.canMountTmpfs
    ? [.tmpfs(kib: 24), .tmpfs(kib: 160), .tmpfs(kib: 200), .tmpfs(kib: 280)]
    : [.fileSizeLimit(bytes: 24_000), .fileSizeLimit(bytes: 160_000), .fileSizeLimit(bytes: 240_000)]
  /// What the error may name: the system error, or the room that was left (a commit refused
  /// before its flush).
  static let causes = ["No space left on device", "File too large", "the file system has", "the file size limit"]

  @Test func aFullDiskEndsInAnErrorAndTheNextRunResumesOrRefuses() throws {
    let scratch = try Scratch("targets-full-disk")
    defer { scratch.remove() }
    var resumed = 0
    for (n, limit) in Self.limits.enumerated() {
      let folder = scratch.url.appendingPathComponent("disk-\(n)")
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      let path = folder.appendingPathComponent("targets.h5").path
      let outcome = try limit.run(test: "targetWriterProcess", folder: folder, environment: [fileVariable: path])
      #expect(outcome.status == 0, "\(limit): the writer exited with status \(outcome.status)")
      let committed = outcome.reports.compactMap { $0.hasPrefix("committed ") ? Int($0.dropFirst(10)) : nil }.last ?? 0
      let error = try #require(outcome.reports.first { $0.hasPrefix("error ") }, "\(limit): nothing failed")
      #expect(error.contains(path) && Self.causes.contains { error.contains($0) }, "\(limit): \(error)")

      // The next run, with space again: resume after the committed rows, or refuse the file.
      let after = outcome.files.appendingPathComponent("targets.h5").path
      let writer: TargetWriter
      do {
        writer = try TargetWriter(path: after, header: header(rows: 8 * Self.batches))
      } catch {
        #expect("\(error)".contains(after) && "\(error)".contains("Remove it to regenerate the targets"), "\(limit): \(error)")
        print("\(limit): refused after \(committed) committed rows: \(String(describing: error).prefix(200))")
        continue
      }
      #expect(writer.committedRows >= committed && writer.committedRows % 8 == 0, "\(limit): \(writer.committedRows) rows")
      for i in (writer.committedRows / 8)..<Self.batches { try writer.append(fakeBatch(i, rows: 8), final: i == Self.batches - 1) }
      try writer.close()
      let reader = try TargetReader(path: after, expected: header(rows: 8 * Self.batches))
      #expect(reader.rowCount == 8 * Self.batches)
      for i in 0..<Self.batches {
        let expected = fakeBatch(i, rows: 8), back = try reader.batch(rows: Array((i * 8)..<(i * 8 + 8)))
        #expect(back.inputs == expected.inputs && back.times == expected.times && back.targets.ids == expected.targets.ids
                  && back.targets.logProbs == expected.targets.logProbs, "\(limit): batch \(i)")
      }
      resumed += 1
      print("\(limit): resumed after \(committed) committed rows")
    }
    #expect(resumed > 0)
  }
}
