// Opening files that are missing, not HDF5, truncated or damaged throws clear errors.
import Foundation
import Testing
@testable import HDF5

@Suite struct FileErrorTests {
  private func openError(_ path: String, mode: H5File.OpenMode = .readOnly) -> H5Error? {
    do { _ = try H5File.open(path, mode: mode); return nil } catch { return error as? H5Error }
  }

  /// A valid file with a dataset large enough that cutting it loses metadata and data.
  private func writeSample(_ path: String) throws {
    let file = try H5File.create(path)
    let dataset = try file.createDataset("data/values", of: Double.self, shape: [0, 100],
                                         extendible: true, chunkShape: [10, 100])
    for batch in 0..<10 { try dataset.append((0..<1000).map { Double($0 + batch) }) }
    try file.attributes.set("note", "sample")
    try file.close()
  }

  @Test func missingFile() throws {
    let directory = try TestDirectory()
    let error = openError(directory.path("absent.h5"))
    #expect(error?.kind == .fileNotFound)
    #expect(error?.description.contains("absent.h5") == true)
    #expect(error?.operation == "open file")
  }

  @Test func notAnHDF5File() throws {
    let directory = try TestDirectory()
    let path = directory.path("garbage.h5")
    try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131) }).write(to: URL(fileURLWithPath: path))
    #expect(openError(path)?.kind == .notHDF5)
    #expect(openError(path, mode: .readWrite)?.kind == .notHDF5)
    let empty = directory.path("empty.h5")
    try Data().write(to: URL(fileURLWithPath: empty))
    #expect(openError(empty)?.kind == .notHDF5)
    #expect(openError(directory.url.path)?.kind == .notHDF5)  // a directory
  }

  @Test func truncatedFile() throws {
    let directory = try TestDirectory()
    let path = directory.path("cut.h5")
    try writeSample(path)
    let size = try fileSize(path)
    for keep in [size / 2, 2048, 100] {
      let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
      try handle.truncate(atOffset: UInt64(keep))
      try handle.close()
      let error = openError(path)
      #expect(error?.kind == .unreadableFile, "kept \(keep) of \(size) bytes: \(String(describing: error))")
      #expect(error?.hdf5Message != nil, "the HDF5 error stack should say why")
    }
  }

  @Test func damagedMetadataThrowsInsteadOfCrashing() throws {
    let directory = try TestDirectory()
    let path = directory.path("damaged.h5")
    try writeSample(path)
    let original = try Data(contentsOf: URL(fileURLWithPath: path))
    // Overwrite one region after the superblock at a time; each variant must open-and-read
    // cleanly or throw an H5Error, never trap.
    var failures = 0
    for offset in stride(from: 96, to: min(original.count, 4096), by: 512) {
      var damaged = original
      for k in offset..<min(offset + 64, damaged.count) { damaged[k] = 0xA5 }
      try damaged.write(to: URL(fileURLWithPath: path))
      do {
        let file = try H5File.open(path)
        _ = try file.children()
        _ = try file.openDataset("data/values", of: Double.self).read()
        _ = try file.attributes.names()
      } catch is H5Error {
        failures += 1
      }
    }
    #expect(failures > 0, "some damage should have been detected")
  }

  @Test func createRespectsItsMode() throws {
    let directory = try TestDirectory()
    let path = directory.path("exists.h5")
    try H5File.create(path).attributes.set("v", 1)
    let error = #expect(throws: H5Error.self) { try H5File.create(path) }
    #expect(error?.kind == .alreadyExists)
    #expect(try H5File.open(path).attributes.int64("v") == 1)  // untouched
    let fresh = try H5File.create(path, mode: .truncate)
    #expect(try fresh.attributes.names().isEmpty)
    let nowhere = #expect(throws: H5Error.self) {
      try H5File.create(directory.path("no/such/dir/x.h5"))
    }
    #expect(nowhere?.kind == .library)
    #expect(nowhere?.hdf5Message != nil)
  }

  @Test func closedFilesAndDatasetsThrow() throws {
    let directory = try TestDirectory()
    let file = try H5File.create(directory.path("closed.h5"))
    let dataset = try file.createDataset("x", of: Int32.self, shape: [2])
    let group = try file.createGroup("g")
    try file.close()
    try file.close()  // twice is fine
    #expect(!file.isOpen)
    #expect((#expect(throws: H5Error.self) { try dataset.read() })?.kind == .closed)
    #expect((#expect(throws: H5Error.self) { try group.children() })?.kind == .closed)
    #expect((#expect(throws: H5Error.self) { try file.flush() })?.kind == .closed)
    let other = try H5File.create(directory.path("other.h5"))
    let early = try other.createDataset("y", of: Int32.self, shape: [1])
    early.close()
    #expect((#expect(throws: H5Error.self) { try early.write([1]) })?.kind == .closed)
  }
}
