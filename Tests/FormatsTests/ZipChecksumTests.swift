import Foundation
import Testing
import TestSupport
@testable import Formats

/// Tensor reads check the CRC-32 of their storage entry: a flipped byte inside a tensor must be
/// refused, naming the file and the entry, instead of loading as a different weight.
@Suite struct ZipChecksumTests {
  static let golden = "pgm-tiny/lightning.ckpt"

  /// The golden checkpoint with one byte of `entry` flipped at `offset` into its data.
  static func flipping(entry name: String, at offset: Int) throws -> [UInt8] {
    var bytes = [UInt8](try Data(contentsOf: try Golden.url(golden)))
    let archive = try ZipArchive(source: MemoryByteSource(bytes: bytes, name: golden))
    let entry = try #require(archive.entry(name))
    bytes[try archive.dataStart(of: entry) + offset] ^= 0x10
    return bytes
  }

  static func expectCorrupt(_ error: any Error, file: String, entry: String) {
    #expect((error as? TorchCheckpointError) == TorchCheckpointError(file: file, problem: .checksumMismatch(entry: entry)))
    let text = String(describing: error)
    #expect(text.hasPrefix(file + ": ") && text.contains("corrupt") && text.contains(entry), "\(text)")
  }

  @Test func aFlippedByteInATensorIsRefusedNamingTheEntry() throws {
    let original = try TorchCheckpoint(url: try Golden.url(Self.golden))
    let state = try #require(original["state_dict"]?.dictValue)
    let (name, ref) = try #require(state.entries.compactMap { e in e.value.tensorValue.map { (e.key.stringValue ?? "?", $0) } }.first)
    let entry = "lightning/data/\(ref.storageKey)"
    let size = ref.storageElementCount * ref.dtype.elementSize
    let mutated = try Self.flipping(entry: entry, at: size / 2)
    let checkpoint = try TorchCheckpoint(bytes: mutated, name: "damaged.ckpt")  // the pickle is intact
    #expect(throws: (any Error).self, "\(name)") { try checkpoint.read(ref) }
    do { _ = try checkpoint.read(ref) } catch { Self.expectCorrupt(error, file: "damaged.ckpt", entry: entry) }
    // Only that entry is refused; every other storage still reads, with the original values.
    for (other, otherRef) in state.entries.compactMap({ e in e.value.tensorValue.map { (e.key.stringValue ?? "?", $0) } })
    where otherRef.storageKey != ref.storageKey {
      #expect(try checkpoint.read(otherRef) == original.read(otherRef), "\(other)")
    }
    #expect(throws: TorchCheckpointError.self) { try checkpoint.verifyChecksums() }
  }

  /// The EMA list is views into one shared storage: a damaged byte outside a view's own span is
  /// still caught, because the whole entry is checked before any part of it is returned.
  @Test func aViewIsRefusedWhenItsStorageIsDamagedOutsideTheView() throws {
    let original = try TorchCheckpoint(url: try Golden.url(Self.golden))
    let shadow = try #require(original["ema"]?["shadow_params"]?.elements).compactMap(\.tensorValue)
    let first = try #require(shadow.first), last = try #require(shadow.last)
    #expect(first.storageKey == last.storageKey && last.storageOffset > 0)
    let entry = "lightning/data/\(last.storageKey)"
    let lastByte = (last.storageOffset + last.elementCount) * last.dtype.elementSize - 1
    let checkpoint = try TorchCheckpoint(bytes: try Self.flipping(entry: entry, at: lastByte), name: "views.ckpt")
    do {
      _ = try checkpoint.read(first)  // its span ends long before the flipped byte
      Issue.record("a view of a damaged storage was read")
    } catch {
      Self.expectCorrupt(error, file: "views.ckpt", entry: entry)
    }
  }

  /// Entries whose local header defers sizes and CRC to a data descriptor (as torch writes them),
  /// with and without ZIP64: the central directory's CRC is the one checked.
  @Test(arguments: [false, true])
  func dataDescriptorEntriesAreCheckedAgainstTheCentralDirectory(zip64: Bool) throws {
    let entries = [TestZip.Entry(name: "a/data.pkl", data: [0x80, 2, 0x4E, 0x2E]),
                   TestZip.Entry(name: "a/data/0", data: Array(0..<100))]
    var image = TestZip.build(entries, zip64: zip64, dataDescriptor: true)
    let intact = try ZipArchive(source: MemoryByteSource(bytes: image, name: "z"))
    let storage = try #require(intact.entry("a/data/0"))
    #expect(try intact.readVerified(storage, at: 10, count: 5) == [10, 11, 12, 13, 14])
    image[try intact.dataStart(of: storage) + 90] ^= 1
    let damaged = try ZipArchive(source: MemoryByteSource(bytes: image, name: "z"))
    #expect(throws: TorchCheckpointError.Problem.checksumMismatch(entry: "a/data/0")) {
      try damaged.readVerified(storage, at: 10, count: 5)
    }
    #expect(throws: TorchCheckpointError.Problem.checksumMismatch(entry: "a/data/0")) {
      try damaged.readVerified(storage, count: storage.size)
    }
    #expect(try damaged.read(storage, at: 10, count: 5) == [10, 11, 12, 13, 14])  // unchecked reads still work
  }
}
