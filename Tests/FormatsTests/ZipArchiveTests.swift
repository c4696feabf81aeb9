import Foundation
import Testing
@testable import Formats

/// Structural damage to the zip container, each reported as a specific problem.
@Suite struct ZipArchiveTests {
  static let entries = [TestZip.Entry(name: "a/data.pkl", data: [0x80, 2, 0x4E, 0x2E]),
                        TestZip.Entry(name: "a/data/0", data: [1, 2, 3, 4])]

  func open(_ image: [UInt8]) -> TorchCheckpointError.Problem? {
    do {
      _ = try ZipArchive(source: MemoryByteSource(bytes: image, name: "z"))
      return nil
    } catch let problem as TorchCheckpointError.Problem {
      return problem
    } catch {
      Issue.record("unexpected error \(error)")
      return nil
    }
  }

  /// Offset of the last occurrence of a 4-byte little-endian signature.
  func offset(of signature: UInt32, in image: [UInt8]) -> Int {
    var bytes: [UInt8] = []
    bytes.appendLE(signature)
    return (0...(image.count - 4)).last { Array(image[$0 ..< $0 + 4]) == bytes }!
  }

  func patch<T: FixedWidthInteger>(_ image: inout [UInt8], at position: Int, _ value: T) {
    var bytes: [UInt8] = []
    bytes.appendLE(value)
    image.replaceSubrange(position ..< position + bytes.count, with: bytes)
  }

  @Test(arguments: [false, true])
  func readsEntriesWithAndWithoutZIP64(zip64: Bool) throws {
    let image = TestZip.build(Self.entries, zip64: zip64, dataDescriptor: zip64)
    let archive = try ZipArchive(source: MemoryByteSource(bytes: image, name: "z"))
    #expect(archive.entries.map(\.name) == ["a/data.pkl", "a/data/0"])
    let storage = try #require(archive.entry("a/data/0"))
    #expect(try archive.read(storage, at: 1, count: 2) == [2, 3])
    #expect(try archive.readAll(storage) == [1, 2, 3, 4])
    #expect(throws: TorchCheckpointError.Problem.self) { try archive.read(storage, at: 3, count: 2) }
  }

  @Test func archiveCommentIsSkipped() throws {
    var image = TestZip.build(Self.entries)
    let end = offset(of: 0x0605_4B50, in: image)
    patch(&image, at: end + 20, UInt16(5))
    image += Array("hello".utf8)
    #expect(try ZipArchive(source: MemoryByteSource(bytes: image, name: "z")).entries.count == 2)
  }

  @Test func damagedDirectoriesAreReported() {
    let plain = TestZip.build(Self.entries)
    let end = offset(of: 0x0605_4B50, in: plain)

    var beyond = plain
    patch(&beyond, at: end + 16, UInt32(1_000_000))  // directory offset past the file
    guard case .malformedZip? = open(beyond) else { Issue.record("directory outside the file accepted"); return }

    var tooMany = plain
    patch(&tooMany, at: end + 10, UInt16(5000))  // more entries than the directory can hold
    #expect(open(tooMany) == .malformedZip("5000 entries cannot fit in a \(end - firstCentral(plain))-byte central directory"))

    var saturated = plain
    patch(&saturated, at: end + 10, UInt16.max)  // asks for ZIP64 without a locator
    #expect(open(saturated) == .malformedZip("end record asks for ZIP64 values but there is no ZIP64 locator"))

    var hugeEntry = plain
    patch(&hugeEntry, at: firstCentral(plain) + 24, UInt32.max - 1)  // plain size beyond the file
    guard case .malformedZip? = open(hugeEntry) else { Issue.record("entry larger than the file accepted"); return }

    let duplicate = TestZip.build([Self.entries[0], Self.entries[0]])
    #expect(open(duplicate) == .malformedZip("entry name a/data.pkl appears twice"))

    var zip64 = TestZip.build(Self.entries, zip64: true)
    let locator = offset(of: 0x0706_4B50, in: zip64)
    patch(&zip64, at: locator + 8, UInt64.max)  // ZIP64 record offset far outside
    #expect(open(zip64) == .malformedZip("ZIP64 end record offset \(UInt64.max) is outside the file"))

    var zip64Extra = TestZip.build(Self.entries, zip64: true)
    patch(&zip64Extra, at: firstCentral(zip64Extra) + 46 + "a/data.pkl".utf8.count + 4, UInt64.max)  // 64-bit size
    guard case .malformedZip? = open(zip64Extra) else { Issue.record("ZIP64 size of 2⁶⁴−1 accepted"); return }
  }

  @Test func damagedLocalHeadersAreReportedWhenReading() throws {
    var image = TestZip.build(Self.entries)
    image[0] = 0  // first local header signature
    let archive = try ZipArchive(source: MemoryByteSource(bytes: image, name: "z"))
    #expect(throws: TorchCheckpointError.Problem.malformedZip("no local header signature at offset 0 for entry a/data.pkl")) {
      try archive.readAll(try #require(archive.entry("a/data.pkl")))
    }
    // A storage whose bytes fail the checksum is caught by verifyChecksum.
    var flipped = TestZip.build(Self.entries)
    let second = offset(of: 0x0403_4B50, in: flipped)
    flipped[second + 30 + "a/data/0".utf8.count + 4] ^= 0xFF
    let damaged = try ZipArchive(source: MemoryByteSource(bytes: flipped, name: "z"))
    #expect(throws: TorchCheckpointError.Problem.checksumMismatch(entry: "a/data/0")) {
      try damaged.verifyChecksum(try #require(damaged.entry("a/data/0")))
    }
  }

  func firstCentral(_ image: [UInt8]) -> Int {
    var bytes: [UInt8] = []
    bytes.appendLE(UInt32(0x0201_4B50))
    return (0...(image.count - 4)).first { Array(image[$0 ..< $0 + 4]) == bytes }!
  }
}
