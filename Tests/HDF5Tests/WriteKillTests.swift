// kill -9 at every write system call of a writer (strace -e inject), then resume in this process:
// drop the uncommitted tail, append, commit, close. Every committed row must survive and the
// resumed writer must commit without an HDF5 error.
import Foundation
import Testing
@testable import HDF5

private let writeKillFileVariable = "PGM_HDF5_WRITE_KILL_FILE"

@Suite struct WriteKillTests {
  static let width = 64, chunkRows = 64

  static func open(_ file: H5File) throws -> (H5ResumableWriter, H5Dataset<Float>, H5Dataset<Int64>) {
    let writer = try H5ResumableWriter(file: file, group: "targets")
    let values = try writer.dataset("values", of: Float.self, rowShape: [width], chunkRows: chunkRows, compression: .deflate(level: 1))
    let index = try writer.dataset("index", of: Int64.self, rowShape: [1], chunkRows: 500)
    return (writer, values, index)
  }

  static func value(_ i: Int, _ j: Int) -> Float { Float((i &* 31 &+ j) % 1000) + Float(j % 7) * 0.25 }

  static func appendAndCommit(_ w: H5ResumableWriter, _ v: H5Dataset<Float>, _ x: H5Dataset<Int64>, count: Int) throws {
    let first = w.committedRows
    var batch: [Float] = []
    for i in first..<(first + count) { batch += (0..<width).map { value(i, $0) } }
    try v.append(batch)
    try x.append((first..<(first + count)).map { Int64($0) })
    try w.commit()
  }

  /// The child: a fresh file, then commits of 64, 128, 64 and 128 rows.
  @Test func writeKillChild() throws {
    guard let path = ProcessInfo.processInfo.environment[writeKillFileVariable] else { return }
    let file = FileManager.default.fileExists(atPath: path) ? try H5File.open(path, mode: .readWrite) : try H5File.create(path)
    let (w, v, x) = try Self.open(file)
    for count in [64, 128, 64, 128] { try Self.appendAndCommit(w, v, x, count: count) }
    try file.close()
  }

  @Test func killedAtEveryWriteResumes() throws {
    if ProcessInfo.processInfo.environment[writeKillFileVariable] != nil { return }
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/strace") else { return }
    let directory = try TestDirectory()
    let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var kills = 0
    for k in 1...400 {
      let path = directory.path("w-\(k).h5")
      let child = Process()
      child.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
      child.arguments = ["-f", "-o", "/dev/null", "-e", "trace=pwrite64", "-e", "inject=pwrite64:signal=SIGKILL:when=\(k)",
                         executable, "--testing-library", "swift-testing", "--filter", "writeKillChild"]
      child.environment = ProcessInfo.processInfo.environment.merging([writeKillFileVariable: path]) { $1 }
      child.standardOutput = FileHandle.nullDevice
      child.standardError = FileHandle.nullDevice
      try child.run()
      child.waitUntilExit()
      if child.terminationStatus == 0 && child.terminationReason == .exit {
        break  // fewer than k writes: every write was a kill point
      }
      kills += 1
      guard FileManager.default.fileExists(atPath: path) else { continue }
      do {
        let file: H5File
        do { file = try H5File.open(path, mode: .readWrite) } catch let e as H5Error where e.kind == .notHDF5 || e.kind == .unreadableFile {
          continue  // killed while the file was being created
        }
        let (w, v, x) = try Self.open(file)
        let committed = w.committedRows
        try Self.appendAndCommit(w, v, x, count: 128)
        try file.close()
        let check = try H5File.open(path)
        let g = try check.openGroup("targets")
        let n = try H5ResumableWriter.committedRows(in: g)
        #expect(n == committed + 128)
        let back = try g.openDataset("values", of: Float.self).read(rows: 0..<n)
        #expect(back == (0..<n).flatMap { i in (0..<Self.width).map { Self.value(i, $0) } }, "kill at write \(k)")
        try check.close()
      } catch let error as H5Error where error.kind == .unreadableFile {
        // Refused with a clear error (a flush cut short left the index pointing at unwritten space).
        continue
      } catch {
        Issue.record("kill at write \(k): resuming failed: \(error)")
      }
    }
    print("write kill points: \(kills)")
    #expect(kills > 10)
  }
}
