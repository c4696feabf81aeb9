import Distill
import Foundation
import Testing
import TestSupport

private let folderVariable = "PGM_RUN_FULL_DISK_FOLDER"

/// A disk that fills up at several points of a run (data, teacher, targets, students, report,
/// export): the run must end with one error naming the file and the cause (never a crash), and
/// the same command, once there is space again, must finish the run as if nothing had happened.
/// The child runs on a tiny tmpfs (`unshare -rm`) where the machine allows it, else under a file
/// size limit (TestSupport's LimitedDisk).
@Suite(.serialized) struct RunFullDiskTests {
  @Test func fullDiskRunChild() throws {
    guard let folder = ProcessInfo.processInfo.environment[folderVariable] else { return }
    LimitedDisk.applyInChild()
    do {
      try runMicro(URL(fileURLWithPath: folder))
      LimitedDisk.report("finished")
    } catch {
      LimitedDisk.report("error \(error)")
    }
  }

  static let limits: [LimitedDisk] = LimitedDisk.canMountTmpfs
    ? [.tmpfs(kib: 16), .tmpfs(kib: 48), .tmpfs(kib: 256), .tmpfs(kib: 384), .tmpfs(kib: 512), .tmpfs(kib: 600), .tmpfs(kib: 640)]
    : [.fileSizeLimit(bytes: 8_000), .fileSizeLimit(bytes: 24_000), .fileSizeLimit(bytes: 40_000)]
  static let causes = ["No space left on device", "File too large", "the file system has", "the file size limit"]

  @Test func aFullDiskEndsInAClearErrorAndTheRerunFinishes() throws {
    if ProcessInfo.processInfo.environment[folderVariable] != nil { return }
    let scratch = scratchDirectory("run-full-disk")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let good = try runMicro(scratch.appendingPathComponent("straight"))
    let expected = try folderContents(scratch.appendingPathComponent("straight/run"))
    var failures = 0
    for (n, limit) in Self.limits.enumerated() {
      let folder = scratch.appendingPathComponent("disk-\(n)")
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      // PGM_DISK_LIMIT: the up-front estimate would refuse the run on these disks (see
      // `upFrontRefusal`); here the disk fills up during the run, as when other jobs write to it.
      let outcome = try limit.run(test: "fullDiskRunChild", folder: folder, environment: [folderVariable: folder.path, "PGM_DISK_LIMIT": "1T"])
      #expect(outcome.status == 0, "\(limit): the run crashed (status \(outcome.status)): \(outcome.reports)")
      guard let error = outcome.reports.first(where: { $0.hasPrefix("error ") }) else {
        #expect(outcome.reports.contains("finished"), "\(limit): \(outcome.reports)")
        continue
      }
      failures += 1
      #expect(error.contains(folder.path) && Self.causes.contains { error.contains($0) }, "\(limit): \(error)")
      #expect(!error.contains("Error Domain="), "\(limit): a raw Foundation error: \(error)")
      print("\(limit): \(error.prefix(300))")
      // Space again: the same command finishes, and ends where the uninterrupted run ended.
      let resumed = try runMicro(outcome.files)
      #expect(differences(expected, try folderContents(outcome.files.appendingPathComponent("run"))).isEmpty, "\(limit)")
      #expect(qualities(resumed.report.rows) == qualities(good.report.rows), "\(limit)")
    }
    #expect(failures >= 3, "the limits should stop the run at several points")
  }

  /// Without the override, a disk too small for the whole run is refused before anything is written.
  @Test func upFrontRefusal() throws {
    if ProcessInfo.processInfo.environment[folderVariable] != nil { return }
    guard LimitedDisk.canMountTmpfs else { return }
    let scratch = scratchDirectory("run-small-disk")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let outcome = try LimitedDisk.tmpfs(kib: 128).run(test: "fullDiskRunChild", folder: scratch, environment: [folderVariable: scratch.path])
    let error = try #require(outcome.reports.first { $0.hasPrefix("error ") })
    #expect(error.contains("refused before starting: the run needs about") && error.contains("of disk"), "\(error)")
    #expect(!FileManager.default.fileExists(atPath: outcome.files.appendingPathComponent("run").path))
  }
}
