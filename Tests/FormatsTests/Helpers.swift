import Foundation
@testable import Formats
import TestSupport

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
