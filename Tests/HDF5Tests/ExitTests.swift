// The module replaces HDF5's atexit clean-up (which would crash on a file cut off after a failed
// write) by its own; files still open and healthy at exit must be flushed and closed as before.
import Foundation
import Testing
import TestSupport
@testable import HDF5

private let exitFileVariable = "PGM_HDF5_EXIT_FILE"
/// Keeps the child's file open until `exit`.
nonisolated(unsafe) private var openAtExit: H5File?

@Suite struct ExitTests {
  @Test func exitingWriterProcess() throws {
    guard let path = ProcessInfo.processInfo.environment[exitFileVariable] else { return }  // an ordinary run
    let file = try H5File.create(path)
    try file.createDataset("values", of: Int64.self, shape: [3]).write([7, 8, 9])
    try file.attributes.set("note", "written before exit")
    openAtExit = file
    exit(0)  // no close, no flush
  }

  @Test func filesStillOpenAtExitAreFlushedAndClosed() throws {
    let scratch = try Scratch("exit")
    defer { scratch.remove() }
    let path = scratch.file("open-at-exit.h5").path
    let outcome = try LimitedDisk.unlimited.run(test: "exitingWriterProcess", folder: scratch.url,
                                               environment: [exitFileVariable: path])
    #expect(outcome.status == 0)
    let file = try H5File.open(path)
    #expect(try file.openDataset("values", of: Int64.self).read() == [7, 8, 9])
    #expect(try file.attributes.string("note") == "written before exit")
  }
}
