// Dataset round trips for every element type and rank, row ranges, appends, resizing, and the
// shape and type errors that protect them.
import Foundation
import Testing
@testable import HDF5

/// Distinct values for element `k`, exact in every element type.
private func sample<E: H5Element & Numeric>(_ type: E.Type, count: Int, seed: Int = 0) -> [E] {
  (0..<count).map { k in E(exactly: (k * 7 + seed) % 251)! }
}

/// Writes a dataset of `shape`, closes the file, reopens it and reads everything back.
private func roundTrip<E: H5Element & Numeric>(_ type: E.Type, shape: [Int]) throws {
  let directory = try TestDirectory()
  let path = directory.path("round.h5")
  let values = sample(E.self, count: shape.reduce(1, *), seed: shape.count)
  do {
    let file = try H5File.create(path)
    try file.createDataset("data", of: E.self, shape: shape).write(values)
  }  // released: closed
  let file = try H5File.open(path)
  let dataset = try file.openDataset("data", of: E.self)
  #expect(try dataset.shape == shape)
  #expect(try dataset.read() == values)
  #expect(try file.datasetInfo("data").elementType == E.h5Type)
}

@Suite struct DatasetTests {
  @Test(arguments: [[5], [4, 3], [2, 3, 4]])
  func everyElementTypeRoundTrips(shape: [Int]) throws {
    try roundTrip(Float.self, shape: shape)
    try roundTrip(Double.self, shape: shape)
    try roundTrip(Int32.self, shape: shape)
    try roundTrip(Int64.self, shape: shape)
    try roundTrip(UInt8.self, shape: shape)
    try roundTrip(UInt16.self, shape: shape)
  }

  @Test func extremeValuesSurvive() throws {
    let directory = try TestDirectory()
    let file = try H5File.create(directory.path("x.h5"))
    let floats: [Float] = [.greatestFiniteMagnitude, -.leastNonzeroMagnitude, .infinity, -0.0]
    try file.createDataset("f", of: Float.self, shape: [4]).write(floats)
    #expect(try file.openDataset("f", of: Float.self).read() == floats)
    let ints: [Int64] = [.min, .max, 0, -1]
    try file.createDataset("i", of: Int64.self, shape: [4]).write(ints)
    #expect(try file.openDataset("i", of: Int64.self).read() == ints)
    let shorts: [UInt16] = [0, .max, 1, 50_000]
    try file.createDataset("u", of: UInt16.self, shape: [2, 2]).write(shorts)
    #expect(try file.openDataset("u", of: UInt16.self).read() == shorts)
  }

  @Test func rowRangesReadAndWrite() throws {
    let directory = try TestDirectory()
    let file = try H5File.create(directory.path("rows.h5"))
    let dataset = try file.createDataset("grid", of: Int32.self, shape: [10, 2, 3])
    let all = (0..<60).map { Int32($0) }
    try dataset.write(all)
    #expect(try dataset.read(rows: 3..<5) == Array(all[18..<30]))
    #expect(try dataset.read(rows: 9..<10) == Array(all[54..<60]))
    #expect(try dataset.read(rows: 4..<4).isEmpty)

    // Into a preallocated buffer, larger than needed: only the prefix is written.
    var buffer = [Int32](repeating: -1, count: 20)
    #expect(try dataset.read(rows: 1..<3, into: &buffer) == 12)
    #expect(Array(buffer[0..<12]) == Array(all[6..<18]))
    #expect(buffer[12...].allSatisfy { $0 == -1 })

    // Overwrite rows 2..<4 only.
    try dataset.write([Int32](repeating: 100, count: 12), atRow: 2)
    let after = try dataset.read()
    #expect(Array(after[12..<24]) == [Int32](repeating: 100, count: 12))
    #expect(Array(after[0..<12]) == Array(all[0..<12]))
    #expect(Array(after[24...]) == Array(all[24...]))
  }

  @Test func outOfRangeAndMismatchedShapesThrow() throws {
    let directory = try TestDirectory()
    let file = try H5File.create(directory.path("bad.h5"))
    let dataset = try file.createDataset("m", of: Float.self, shape: [4, 3])
    func kind(_ body: () throws -> Void) -> H5Error.Kind? {
      do { try body(); return nil } catch let error as H5Error { return error.kind } catch { return nil }
    }
    #expect(kind { try dataset.write([Float](repeating: 0, count: 11)) } == .shapeMismatch)
    #expect(kind { try dataset.write([Float](repeating: 0, count: 4), atRow: 0) } == .shapeMismatch)
    #expect(kind { try dataset.write([Float](repeating: 0, count: 6), atRow: 3) } == .shapeMismatch)
    #expect(kind { _ = try dataset.read(rows: 2..<5) } == .shapeMismatch)
    var small = [Float](repeating: 0, count: 5)
    #expect(kind { try dataset.read(rows: 0..<2, into: &small) } == .shapeMismatch)
    #expect(kind { try dataset.append([Float](repeating: 0, count: 3)) } == .invalidArgument)
    #expect(kind { try dataset.resize(rows: 2) } == .invalidArgument)  // contiguous
    #expect(kind { try file.createDataset("m", of: Float.self, shape: [1]) } == .alreadyExists)
    #expect(kind { try file.createDataset("neg", of: Float.self, shape: [-1]) } == .invalidArgument)
    #expect(kind { try file.createDataset("c", of: Float.self, shape: [4], chunkShape: [8]) }
              == .invalidArgument)
    #expect(kind { try file.createDataset("z", of: Float.self, shape: [4], compression: .deflate(level: 12)) }
              == .invalidArgument)
    // A failed write leaves the data as it was.
    #expect(try dataset.read() == [Float](repeating: 0, count: 12))
  }

  @Test func readingWithTheWrongElementTypeIsAClearError() throws {
    let directory = try TestDirectory()
    let file = try H5File.create(directory.path("types.h5"))
    try file.createDataset("ints", of: Int32.self, shape: [3]).write([1, 2, 3])
    let error = #expect(throws: H5Error.self) { try file.openDataset("ints", of: Float.self) }
    #expect(error?.kind == .typeMismatch)
    #expect(error?.description.contains("int32") == true)
    #expect(error?.description.contains("float32") == true)
    #expect(throws: H5Error.self) { try file.openDataset("ints", of: Int64.self) }
    #expect(throws: H5Error.self) { try file.openDataset("ints", of: UInt8.self) }
    #expect(try file.openDataset("ints", of: Int32.self).read() == [1, 2, 3])
    let missing = #expect(throws: H5Error.self) { try file.openDataset("nope", of: Float.self) }
    #expect(missing?.kind == .notFound)
    try file.createGroup("g")
    #expect((#expect(throws: H5Error.self) { try file.openDataset("g", of: Float.self) })?.kind == .notFound)
  }

  @Test func appendsContinueAcrossCloseAndReopen() throws {
    let directory = try TestDirectory()
    let path = directory.path("append.h5")
    do {
      let file = try H5File.create(path)
      let dataset = try file.createDataset("train/tokens", of: UInt16.self, shape: [0, 4],
                                           extendible: true, chunkShape: [3, 4])
      #expect(try dataset.append((0..<8).map { UInt16($0) }) == 0..<2)
      #expect(try dataset.append((8..<28).map { UInt16($0) }) == 2..<7)
      try file.close()
      #expect((#expect(throws: H5Error.self) { try dataset.rowCount })?.kind == .closed)
    }
    do {
      let file = try H5File.open(path, mode: .readWrite)
      let dataset = try file.openDataset("train/tokens", of: UInt16.self)
      #expect(dataset.isExtendible)
      #expect(dataset.chunkShape == [3, 4])
      #expect(try dataset.rowCount == 7)
      #expect(try dataset.append((28..<40).map { UInt16($0) }) == 7..<10)
    }
    let file = try H5File.open(path)
    let dataset = try file.openDataset("/train/tokens", of: UInt16.self)
    #expect(try dataset.shape == [10, 4])
    #expect(try dataset.read() == (0..<40).map { UInt16($0) })
    #expect(try dataset.read(rows: 6..<8) == (24..<32).map { UInt16($0) })
    // Read-only: appending is refused with a clear error.
    #expect((#expect(throws: H5Error.self) { try dataset.append([1, 2, 3, 4]) })?.kind == .notWritable)
  }

  @Test func resizeDropsATailAndAppendingContinues() throws {
    let directory = try TestDirectory()
    let file = try H5File.create(directory.path("resize.h5"))
    let dataset = try file.createDataset("x", of: Double.self, shape: [0, 2], extendible: true,
                                         chunkShape: [4, 2], compression: .deflate())
    try dataset.append((0..<20).map { Double($0) })
    try dataset.resize(rows: 3)
    #expect(try dataset.read() == (0..<6).map { Double($0) })
    try dataset.append([-1, -2])
    #expect(try dataset.read() == (0..<6).map { Double($0) } + [-1, -2])
    try dataset.resize(rows: 6)  // grows with zeros
    #expect(try dataset.read(rows: 4..<6) == [0, 0, 0, 0])
    // A fixed-size chunked dataset cannot pass its maximum.
    let fixed = try file.createDataset("f", of: Float.self, shape: [4], chunkShape: [2])
    #expect((#expect(throws: H5Error.self) { try fixed.resize(rows: 5) })?.kind == .shapeMismatch)
    try fixed.resize(rows: 2)
    #expect(try fixed.shape == [2])
  }
}
