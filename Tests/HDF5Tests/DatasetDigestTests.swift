import Foundation
import Testing
@testable import HDF5

/// `H5Dataset.sha256(ofFirst:)`: the hash of the leading rows' values, whatever the storage.
@Suite struct DatasetDigestTests {
  /// SHA-256 of "abc" (FIPS 180-2, appendix B.1).
  static let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
  /// SHA-256 of nothing.
  static let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

  @Test func hashesTheBytesOfTheValuesInRowOrder() throws {
    let directory = try TestDirectory()
    let file = try H5File.create(directory.path("abc.h5"))
    let bytes = try file.createDataset("bytes", of: UInt8.self, shape: [2, 3])
    try bytes.write(Array("abcdef".utf8))
    #expect(try bytes.sha256(ofFirst: 1) == Self.abc)
    #expect(try bytes.sha256(ofFirst: 0) == Self.empty)
    #expect(try bytes.sha256(ofFirst: 2) != Self.abc)
    #expect(throws: H5Error.self) { try bytes.sha256(ofFirst: 3) }
  }

  /// The same values give the same hash in any batch size, chunking or compression; one changed
  /// value, or one row more or less, gives another.
  @Test func dependsOnTheValuesOnly() throws {
    let directory = try TestDirectory()
    let file = try H5File.create(directory.path("values.h5"))
    let values = (0..<(500 * 7)).map { Float($0 % 97) * 0.5 - 3 }
    let plain = try file.createDataset("plain", of: Float.self, shape: [500, 7])
    try plain.write(values)
    let packed = try file.createDataset("packed", of: Float.self, shape: [0, 7], extendible: true, chunkShape: [64, 7],
                                        compression: .deflate(level: 6, shuffle: true))
    try packed.append(values)
    try packed.append(values.map { $0 + 1 })  // more rows after the 500 hashed
    let reference = try plain.sha256(ofFirst: 500)
    #expect(try packed.sha256(ofFirst: 500) == reference)
    for batch in [1, 3, 64, 499, 500, 10_000] { #expect(try packed.sha256(ofFirst: 500, batchRows: batch) == reference, "\(batch)") }
    #expect(try packed.sha256(ofFirst: 499) != reference)
    #expect(try packed.sha256(ofFirst: 501) != reference)
    var changed = values
    changed[3 * 7 + 2] += 1
    try plain.write(changed)
    #expect(try plain.sha256(ofFirst: 500) != reference)
  }
}
