import Foundation
@testable import Formats

/// A fresh directory under the system temporary folder, removed by `cleanUp()`.
struct ScratchDirectory {
  let url: URL

  init() throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("formats-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  func file(_ name: String) -> URL { url.appendingPathComponent(name) }

  func cleanUp() { try? FileManager.default.removeItem(at: url) }
}

/// A small deterministic generator (SplitMix64) so fuzz cases are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
  private var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Little-endian byte assembly for hand-made fixtures.
extension Array where Element == UInt8 {
  mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
    Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
  }
}

/// A safetensors image with a hand-written header (not padded) followed by `dataSize` zero bytes.
func safetensorsImage(header: String, dataSize: Int) -> [UInt8] {
  var bytes: [UInt8] = []
  let json = Array(header.utf8)
  bytes.appendLE(UInt64(json.count))
  bytes += json
  bytes += [UInt8](repeating: 0, count: dataSize)
  return bytes
}
