import TestSupport
import Foundation
import Testing
@testable import Formats

/// Files past 4 GiB, written sparse (the gaps take no disk space): opening reads only headers,
/// 64-bit offsets work, and memory stays small.
@Suite struct LargeFileTests {
  static let bigSize = 4_500_000_000  // bytes of sparse filler, past the 32-bit limit

  /// Writes `pieces` at their offsets into a new file, leaving the gaps unwritten.
  func writeSparse(_ url: URL, _ pieces: [(offset: Int, bytes: [UInt8])]) throws {
    try #require(FileManager.default.createFile(atPath: url.path, contents: nil), "cannot create \(url.path)")
    let handle = try FileHandle(forWritingTo: url)
    defer { try? handle.close() }
    for piece in pieces {
      try handle.seek(toOffset: UInt64(piece.offset))
      try handle.write(contentsOf: Data(piece.bytes))
    }
  }

  @Test func safetensorsPastFourGiBReadsOnlyWhatIsAsked() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let url = scratch.file("big.safetensors")
    let big = Self.bigSize
    let header = "{\"filler\":{\"dtype\":\"U8\",\"shape\":[\(big)],\"data_offsets\":[0,\(big)]},"
      + "\"tail\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[\(big),\(big + 16)]}}"
    var start: [UInt8] = []
    start.appendLE(UInt64(header.utf8.count))
    start += Array(header.utf8)
    let tail: [Float] = [1.5, -2, 3, 1e-3]
    try writeSparse(url, [(0, start), (start.count + big, f32Bytes(tail))])

    let memoryBefore = FuzzTests.peakMemory()
    let file = try SafeTensorsFile(url: url)
    #expect(file.entry("filler")?.byteRange.count == big)
    #expect(try file.read("tail").floats() == tail)
    #expect(FuzzTests.peakMemory() - memoryBefore < 64 << 20)
  }

  @Test func checkpointPastFourGiBUsesZIP64Offsets() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let url = scratch.file("big.ckpt")
    let big = Self.bigSize
    let elements = big / 4
    var p = PickleAssembler()
    p.emptyDict(); p.string("tail")
    p.tensor(key: "0", count: elements, offset: elements - 4, shape: [2, 2], strides: [1, 2])
    p.setItem(); p.stop()
    let tail: [Float] = [4, 5, 6, 7]

    // data.pkl, then a 4.5 GB sparse storage ending in `tail`, then a small entry whose local
    // header lies past 4 GiB.
    var pieces: [(offset: Int, bytes: [UInt8])] = []
    var records: [TestZip.Record] = []
    var position = 0
    func add(_ name: String, size: Int, crc: UInt32, contents: [(Int, [UInt8])]) {
      let record = TestZip.Record(name: name, size: size, crc: crc, offset: position)
      let header = TestZip.localHeader(record, zip64: true, dataDescriptor: false)
      pieces.append((position, header))
      for (at, bytes) in contents { pieces.append((position + header.count + at, bytes)) }
      position += header.count + size
      records.append(record)
    }
    add("archive/data.pkl", size: p.bytes.count, crc: CRC32.checksum(p.bytes), contents: [(0, p.bytes)])
    add("archive/data/0", size: big, crc: 0, contents: [(big - 16, f32Bytes(tail))])
    add("archive/version", size: 2, crc: CRC32.checksum([0x33, 0x0A]), contents: [(0, [0x33, 0x0A])])
    pieces.append((position, TestZip.directory(records, at: position, zip64: true, dataDescriptor: false)))
    try writeSparse(url, pieces)

    let memoryBefore = FuzzTests.peakMemory()
    // Entry checks off: the storage's CRC-32 (recorded as 0 here) would need all 4.5 GB read,
    // minutes in a debug build. ZipChecksumTests covers the checks.
    let checkpoint = try TorchCheckpoint(source: try FileByteSource(url: url), limits: PickleLimits(), checksEntries: false)
    let ref = try #require(checkpoint["tail"]?.tensorValue)
    #expect(try checkpoint.read(ref).floats() == [4, 6, 5, 7])  // strides [1, 2]: a transposed 2×2
    #expect(checkpoint.storageKeys == ["0"])
    #expect(FuzzTests.peakMemory() - memoryBefore < 64 << 20)
  }
}
