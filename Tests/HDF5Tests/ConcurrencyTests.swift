// Two threads using the library at once: the module's lock must keep the C library consistent.
import Foundation
import Testing
@testable import HDF5

@Suite struct ConcurrencyTests {
  @Test func readerAndAppenderOnTwoThreads() async throws {
    let directory = try TestDirectory()
    let readPath = directory.path("read.h5"), writePath = directory.path("write.h5")
    let rows = 2_000, width = 32
    do {
      let file = try H5File.create(readPath)
      try file.createDataset("x", of: Float.self, shape: [rows, width], chunkShape: [100, width],
                             compression: .deflate(level: 1))
        .write((0..<(rows * width)).map { Float($0 % 9973) })
    }
    let reader = try H5File.open(readPath)
    let writer = try H5File.create(writePath)
    let appended = try writer.createDataset("y", of: Int64.self, shape: [0, width], extendible: true,
                                            chunkShape: [64, width])

    // One thread reads random row ranges into one reused buffer while another appends to a
    // different file and updates an attribute; a third shares the reader's dataset object.
    let source = try reader.openDataset("x", of: Float.self)
    async let reads: Int = Task.detached {
      var buffer = [Float](repeating: 0, count: 50 * width)
      var checked = 0
      for step in 0..<300 {
        let start = (step * 37) % (rows - 50)
        try source.read(rows: start..<(start + 50), into: &buffer)
        #expect(buffer[0] == Float((start * width) % 9973))
        checked += 1
      }
      return checked
    }.value
    async let appends: Int = Task.detached {
      for step in 0..<300 {
        try appended.append([Int64](repeating: Int64(step), count: width))
        try writer.attributes.set("rows", step + 1)
        if step % 50 == 0 { try writer.flush() }
      }
      return try appended.rowCount
    }.value
    async let listings: Int = Task.detached {
      var count = 0
      for _ in 0..<300 { count += try reader.children().count + (try source.shape[0] == rows ? 1 : 0) }
      return count
    }.value
    let (r, a, l) = try await (reads, appends, listings)
    #expect(r == 300)
    #expect(a == 300)
    #expect(l == 600)
    try writer.close()
    let check = try H5File.open(writePath)
    #expect(try check.attributes.int64("rows") == 300)
    let stored = try check.openDataset("y", of: Int64.self).read()
    #expect(stored == (0..<300).flatMap { [Int64](repeating: Int64($0), count: width) })
  }
}
