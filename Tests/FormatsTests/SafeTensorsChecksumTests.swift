import Foundation
import Testing
import TestSupport
@testable import Formats

/// The data-section CRC-32 that this project's writers record and loaders verify.
@Suite struct SafeTensorsChecksumTests {
  static func tensors() throws -> [(name: String, tensor: TensorData)] {
    var rng = SeededGenerator(seed: 41)
    return [("w", try TensorData(floats: rng.floats(24), shape: [4, 6])),
            ("b", try TensorData(floats: rng.floats(6), shape: [6])),
            ("steps", try TensorData(int64s: [7, 8, 9], shape: [3], dtype: .i64))]
  }

  /// Offset of the data section in a safetensors image.
  static func dataStart(_ image: [UInt8]) -> Int {
    8 + Int(image.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
  }

  @Test func everyFlippedByteOfTheDataSectionIsRefusedNamingTheFile() throws {
    let image = try SafeTensors.encode(try Self.tensors(), metadata: ["format": "pt"])
    let intact = try SafeTensorsFile(bytes: image, name: "run/model.safetensors")
    #expect(try intact.verifyChecksum())
    let start = Self.dataStart(image)
    #expect(image.count - start == (24 + 6) * 4 + 3 * 8)
    for position in start ..< image.count {
      var damaged = image
      damaged[position] ^= 1 << UInt8(position % 8)
      let file = try SafeTensorsFile(bytes: damaged, name: "run/model.safetensors")  // the header is intact
      do {
        try file.verifyChecksum()
        Issue.record("byte \(position) flipped and accepted")
      } catch let error as SafeTensorsError {
        guard case .checksumMismatch(let recorded, _, let dataBytes) = error.reason else {
          Issue.record("\(error)")
          continue
        }
        #expect(recorded == (try intact.recordedChecksum) && dataBytes == image.count - start)
        let text = error.description
        #expect(text.hasPrefix("run/model.safetensors is corrupt: checksum mismatch"), "\(text)")
        #expect(text.hasSuffix("rerun the phase that wrote it, or restore the file"), "\(text)")
      }
    }
  }

  /// The recorded value is zlib's CRC-32 of every byte after the header (what Python's
  /// `zlib.crc32` gives), in eight lowercase hex digits.
  @Test func theRecordedValueIsTheCRC32OfTheDataSection() throws {
    let image = try SafeTensors.encode(try Self.tensors())
    let file = try SafeTensorsFile(bytes: image)
    let text = try #require(file.metadata?[SafeTensors.checksumKey])
    #expect(text == CRC32.hex(CRC32Tests.reference(Array(image[Self.dataStart(image)...]))))
    #expect(text.count == 8 && text == text.lowercased())
  }

  @Test func filesWithoutAChecksumStillLoad() throws {
    let golden = try SafeTensorsFile(url: try Golden.url("pgm-tiny/weights.safetensors"))  // written by PyTorch
    #expect(golden.metadata?[SafeTensors.checksumKey] == nil)
    #expect(try golden.verifyChecksum() == false)
    let plain = try SafeTensorsFile(bytes: try SafeTensors.encode(try Self.tensors(), checksum: false))
    #expect(plain.metadata == nil)
    #expect(try plain.verifyChecksum() == false)
  }

  @Test func aChecksumThatIsNotEightHexDigitsIsReported() throws {
    for bad in ["", "12345", "zzzzzzzz", "0x123456"] {
      let image = try SafeTensors.encode(try Self.tensors(), metadata: [SafeTensors.checksumKey: bad], checksum: false)
      let file = try SafeTensorsFile(bytes: image, name: "m.safetensors")
      #expect(throws: SafeTensorsError.self, "\(bad)") { try file.verifyChecksum() }
    }
  }

  /// A caller's stale value for the key is replaced, never trusted.
  @Test func writersOverwriteAChecksumPassedInTheMetadata() throws {
    let image = try SafeTensors.encode(try Self.tensors(), metadata: [SafeTensors.checksumKey: "00000000", "a": "b"])
    #expect(try SafeTensorsFile(bytes: image).verifyChecksum())
  }

  /// The streaming writer fills its placeholder in at the end: same bytes as the in-memory writer,
  /// for names that contain the key itself (which must not be mistaken for the metadata entry).
  @Test func theStreamWriterRecordsTheSameChecksum() throws {
    let scratch = try Scratch("stream-checksum")
    defer { scratch.remove() }
    var rng = SeededGenerator(seed: 5)
    let layout: [(name: String, shape: [Int])] = [("\"\(SafeTensors.checksumKey)\":\"", [3, 2]), ("x", [5]), ("e", [0])]
    let values = layout.map { rng.floats($0.shape.reduce(1, *)) }
    let url = scratch.file("model.safetensors")
    let writer = try SafeTensorsStreamWriter(url: url, layout: layout, metadata: ["format": "pt"])
    for ((name, _), v) in zip(layout, values) { try writer.append(name, v) }
    try writer.finish()
    let tensors = try zip(layout, values).map { (name: $0.name, tensor: try TensorData(floats: $1, shape: $0.shape)) }
    #expect(try [UInt8](Data(contentsOf: url)) == SafeTensors.encode(tensors, metadata: ["format": "pt"]))
    #expect(try SafeTensorsFile(url: url).verifyChecksum())
  }
}
