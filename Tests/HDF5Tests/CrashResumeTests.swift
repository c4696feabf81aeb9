// kill -9 a writer process at random moments; every committed row must survive and appending
// must continue. The writer is this test binary, re-launched with an environment variable that
// turns `crashWriterProcess` into an endless append loop.
import Foundation
import Testing
@testable import HDF5

/// Environment of the child writer: the HDF5 file and a progress file it appends to after each
/// commit returned.
private let writerFileVariable = "PGM_HDF5_CRASH_WRITER_FILE"
private let progressFileVariable = "PGM_HDF5_CRASH_PROGRESS_FILE"
/// Number of kill rounds (default 8, raise it for a stress run).
private let roundsVariable = "PGM_HDF5_CRASH_ROUNDS"

/// Rows are 256 floats plus their index; row i is fully determined by i, so a reader can check
/// every committed row without knowing how the writer batched them.
private enum CrashData {
  static let width = 64
  static let chunkRows = 64

  static func value(_ i: Int, _ j: Int) -> Float { Float((i &* 31 &+ j) % 1000) + Float(j % 7) * 0.25 }

  static func row(_ i: Int) -> [Float] { (0..<width).map { value(i, $0) } }

  static func open(_ file: H5File) throws
    -> (H5ResumableWriter, H5Dataset<Float>, H5Dataset<Int64>)
  {
    let writer = try H5ResumableWriter(file: file, group: "targets")
    let values = try writer.dataset("values", of: Float.self, rowShape: [width],
                                    chunkRows: chunkRows, compression: .deflate(level: 1))
    // Uncompressed, with chunks that commits end inside of: the other case of the protocol.
    let index = try writer.dataset("index", of: Int64.self, rowShape: [1], chunkRows: 500)
    return (writer, values, index)
  }

  /// Appends `count` rows after the committed ones and commits.
  static func appendAndCommit(_ writer: H5ResumableWriter, _ values: H5Dataset<Float>,
                              _ index: H5Dataset<Int64>, count: Int, final: Bool = false) throws {
    let first = writer.committedRows
    var batch: [Float] = []
    batch.reserveCapacity(count * width)
    for i in first..<(first + count) { batch += row(i) }
    try values.append(batch)
    try index.append((first..<(first + count)).map { Int64($0) })
    try writer.commit(final: final)
  }

  /// Checks the committed rows from `checkFrom` on (all of them by default); returns the
  /// committed count.
  static func verify(_ path: String, checkFrom: (Int) -> Int = { _ in 0 }) throws -> Int {
    let file = try H5File.open(path)
    let group = try file.openGroup("targets")
    let committed = try H5ResumableWriter.committedRows(in: group)
    let values = try group.openDataset("values", of: Float.self)
    let index = try group.openDataset("index", of: Int64.self)
    #expect(try values.rowCount >= committed)
    #expect(try index.rowCount >= committed)
    let batchRows = 1024
    var buffer = [Float](repeating: 0, count: batchRows * width)
    var stored = [Int64](repeating: 0, count: batchRows)
    var start = max(0, min(committed, checkFrom(committed)))
    while start < committed {
      let rows = start..<min(committed, start + batchRows)
      try values.read(rows: rows, into: &buffer)
      try index.read(rows: rows, into: &stored)
      for (k, i) in rows.enumerated() {
        var intact = stored[k] == Int64(i)
        for j in 0..<width where buffer[k * width + j] != value(i, j) { intact = false }
        if !intact {
          Issue.record("committed row \(i) of \(committed) is damaged")
          return committed
        }
      }
      start = rows.upperBound
    }
    return committed
  }
}

@Suite struct CrashResumeTests {
  /// The child process's body: resume, then append and commit forever (until killed).
  @Test func crashWriterProcess() throws {
    guard let path = ProcessInfo.processInfo.environment[writerFileVariable],
          let progress = ProcessInfo.processInfo.environment[progressFileVariable]
    else { return }  // an ordinary test run: nothing to do
    let file = FileManager.default.fileExists(atPath: path)
      ? try H5File.open(path, mode: .readWrite) : try H5File.create(path)
    let (writer, values, index) = try CrashData.open(file)
    let log = FileHandle(forWritingAtPath: progress)!
    log.seekToEndOfFile()
    var generator = SystemRandomNumberGenerator()
    while true {
      let count = CrashData.chunkRows * Int.random(in: 1...2, using: &generator)
      try CrashData.appendAndCommit(writer, values, index, count: count)
      log.write("\(writer.committedRows)\n".data(using: .utf8)!)
    }
  }

  @Test func killedWriterResumesWithEveryCommittedRow() throws {
    if ProcessInfo.processInfo.environment[writerFileVariable] != nil { return }  // in the child
    let directory = try TestDirectory()
    let path = directory.path("targets.h5")
    let progress = directory.path("progress.txt")
    _ = FileManager.default.createFile(atPath: progress, contents: nil)
    let rounds = Int(ProcessInfo.processInfo.environment[roundsVariable] ?? "") ?? 8
    let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")

    var lastCommitted = 0
    for round in 0..<rounds {
      let child = Process()
      child.executableURL = URL(fileURLWithPath: executable)
      child.arguments = ["--testing-library", "swift-testing", "--filter", "crashWriterProcess"]
      var environment = ProcessInfo.processInfo.environment
      environment[writerFileVariable] = path
      environment[progressFileVariable] = progress
      child.environment = environment
      child.standardOutput = FileHandle.nullDevice
      let errors = directory.path("writer-\(round).err")
      _ = FileManager.default.createFile(atPath: errors, contents: nil)
      child.standardError = FileHandle(forWritingAtPath: errors)
      try child.run()

      // Mostly wait for a commit in this round, then kill at a random moment; every fourth round
      // kill early instead, while the writer is still starting or resuming.
      let killEarly = round % 4 == 3
      if killEarly {
        usleep(UInt32.random(in: 0...40_000))
      } else {
        let reportedBefore = try Self.reportedCommits(progress).count
        let deadline = Date().addingTimeInterval(30)
        while try Self.reportedCommits(progress).count <= reportedBefore && child.isRunning
          && Date() < deadline
        {
          usleep(2_000)
        }
        let writerErrors = String((try? String(contentsOfFile: errors, encoding: .utf8))?.suffix(1500) ?? "")
        #expect(child.isRunning, "the writer exited early in round \(round): \(writerErrors)")
        usleep(UInt32.random(in: 5_000...150_000))
      }
      kill(child.processIdentifier, SIGKILL)
      child.waitUntilExit()

      let reported = try Self.reportedCommits(progress).last ?? 0
      let committed = try CrashData.verify(path, checkFrom: { $0 - 4 * 1024 })  // the tail; all at the end
      #expect(committed >= reported,
              "round \(round): the writer reported \(reported) committed rows, the file holds \(committed)")
      if !killEarly { #expect(committed > lastCommitted, "round \(round): no progress") }
      #expect(committed >= lastCommitted, "round \(round): committed rows were lost")
      lastCommitted = committed
    }

    #expect(try CrashData.verify(path) == lastCommitted)  // every row, once

    // This process resumes too: the uncommitted tail is dropped and appending continues.
    let file = try H5File.open(path, mode: .readWrite)
    let (writer, values, index) = try CrashData.open(file)
    #expect(writer.committedRows == lastCommitted)
    #expect(try values.rowCount == lastCommitted)
    #expect(try index.rowCount == lastCommitted)
    try CrashData.appendAndCommit(writer, values, index, count: 128)
    try CrashData.appendAndCommit(writer, values, index, count: 37, final: true)
    #expect(throws: H5Error.self) { try writer.commit() }
    try file.close()
    #expect(try CrashData.verify(path) == lastCommitted + 128 + 37)
  }

  private static func reportedCommits(_ progress: String) throws -> [Int] {
    try String(contentsOfFile: progress, encoding: .utf8).split(separator: "\n").compactMap {
      Int($0)
    }
  }
}
