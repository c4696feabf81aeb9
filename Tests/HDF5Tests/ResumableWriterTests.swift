// The commit protocol's rules, in process (the kill test is CrashResumeTests).
import Testing
@testable import HDF5

@Suite struct ResumableWriterTests {
  @Test func uncommittedTailIsDroppedOnResume() throws {
    let directory = try TestDirectory()
    let path = directory.path("resume.h5")
    do {
      let file = try H5File.create(path)
      let writer = try H5ResumableWriter(file: file, group: "targets/k4")
      let tokens = try writer.dataset("tokens", of: Int32.self, rowShape: [3])
      let logits = try writer.dataset("logits", of: Float.self, rowShape: [3, 2], chunkRows: 2,
                                      compression: .deflate(level: 1))
      try tokens.append((0..<12).map { Int32($0) })
      try logits.append((0..<24).map { Float($0) })
      #expect(try writer.commit() == 4)
      try tokens.append([100, 101, 102])  // never committed
      try logits.append([Float](repeating: -1, count: 6))
    }  // closed without a commit, like a crash after the appends
    let file = try H5File.open(path, mode: .readWrite)
    let writer = try H5ResumableWriter(file: file, group: "targets/k4")
    #expect(writer.committedRows == 4)
    let tokens = try writer.dataset("tokens", of: Int32.self, rowShape: [3])
    let logits = try writer.dataset("logits", of: Float.self, rowShape: [3, 2], chunkRows: 2)
    #expect(try tokens.rowCount == 4)
    #expect(try logits.rowCount == 4)
    try tokens.append([12, 13, 14, 15, 16, 17])
    try logits.append((24..<36).map { Float($0) })
    #expect(try writer.commit() == 6)
    #expect(try tokens.read() == (0..<18).map { Int32($0) })
    #expect(try logits.read() == (0..<36).map { Float($0) })
    #expect(try H5ResumableWriter.committedRows(in: file.openGroup("targets/k4")) == 6)
  }

  @Test func commitRefusesDatasetsOutOfStep() throws {
    let directory = try TestDirectory()
    let file = try H5File.create(directory.path("step.h5"))
    let writer = try H5ResumableWriter(file: file, group: "g", durable: true)  // also fsyncs
    let a = try writer.dataset("a", of: Int64.self, rowShape: [1])
    let b = try writer.dataset("b", of: Int64.self, rowShape: [2])
    try a.append([1, 2])
    try b.append([1, 2])
    let error = #expect(throws: H5Error.self) { try writer.commit() }
    #expect(error?.kind == .shapeMismatch)
    #expect(error?.message.contains("a: 2, b: 1") == true)
    #expect(writer.committedRows == 0)
    try b.append([3, 4])
    #expect(try writer.commit() == 2)
  }

  @Test func compressedDatasetsCommitWholeChunksUntilTheFinalCommit() throws {
    let directory = try TestDirectory()
    let path = directory.path("chunks.h5")
    do {
      let file = try H5File.create(path)
      let writer = try H5ResumableWriter(file: file, group: "g")
      #expect((#expect(throws: H5Error.self) {
        try writer.dataset("x", of: Float.self, rowShape: [4], compression: .deflate())
      })?.kind == .invalidArgument)  // chunkRows is required with compression
      let x = try writer.dataset("x", of: Float.self, rowShape: [4], chunkRows: 8,
                                 compression: .deflate())
      try x.append([Float](repeating: 1, count: 4 * 5))
      #expect((#expect(throws: H5Error.self) { try writer.commit() })?.kind == .invalidArgument)
      try x.append([Float](repeating: 2, count: 4 * 3))
      #expect(try writer.commit() == 8)
      try x.append([Float](repeating: 3, count: 4 * 2))
      #expect(try writer.commit(final: true) == 10)
      #expect(writer.isFinished)
      #expect((#expect(throws: H5Error.self) { try writer.commit() })?.kind == .invalidArgument)
    }
    let file = try H5File.open(path, mode: .readWrite)
    let writer = try H5ResumableWriter(file: file, group: "g")
    #expect(writer.isFinished)
    #expect(try writer.dataset("x", of: Float.self, rowShape: [4], chunkRows: 8).rowCount == 10)
  }

  @Test func mismatchedStoredDatasetsAreRejected() throws {
    let directory = try TestDirectory()
    let path = directory.path("mismatch.h5")
    do {
      let file = try H5File.create(path)
      let writer = try H5ResumableWriter(file: file, group: "g")
      try writer.dataset("x", of: Float.self, rowShape: [4]).append([Float](repeating: 0, count: 8))
      try writer.commit()
      try file.createDataset("g/fixed", of: Float.self, shape: [2, 4])
    }
    let file = try H5File.open(path, mode: .readWrite)
    let writer = try H5ResumableWriter(file: file, group: "g")
    func kind(_ body: () throws -> Any) -> H5Error.Kind? {
      do { _ = try body(); return nil } catch let error as H5Error { return error.kind } catch { return nil }
    }
    #expect(kind { try writer.dataset("x", of: Float.self, rowShape: [5]) } == .shapeMismatch)
    #expect(kind { try writer.dataset("x", of: Int32.self, rowShape: [4]) } == .typeMismatch)
    #expect(kind { try writer.dataset("fixed", of: Float.self, rowShape: [4]) } == .shapeMismatch)
    #expect(kind { try writer.dataset("new", of: Float.self, rowShape: [4]) } == .notFound)
    _ = try writer.dataset("x", of: Float.self, rowShape: [4])
    #expect(kind { try writer.dataset("x", of: Float.self, rowShape: [4]) } == .invalidArgument)
  }
}
