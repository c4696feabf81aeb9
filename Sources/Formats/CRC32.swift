/// CRC-32 as used by ZIP and zlib (reflected polynomial 0xEDB88320), so a value recorded here can be
/// checked with Python's `zlib.crc32`.
///
/// Slice-by-8: eight bytes per step through eight 256-entry tables instead of one byte through one,
/// because every tensor byte of an imported checkpoint and of every model file loaded passes
/// through it. `pgm bench` is not involved; `CRC32Tests.throughput` prints the MB/s.
struct CRC32 {
  /// `tables[k][n]`: the CRC of byte `n` followed by `k` zero bytes, flattened (`k * 256 + n`).
  private static let tables: [UInt32] = {
    var tables = [UInt32](repeating: 0, count: 8 * 256)
    for n in 0..<256 {
      var c = UInt32(n)
      for _ in 0..<8 { c = (c & 1) == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
      tables[n] = c
    }
    for k in 1..<8 {
      for n in 0..<256 {
        let previous = tables[(k - 1) * 256 + n]
        tables[k * 256 + n] = tables[Int(previous & 0xFF)] ^ (previous >> 8)
      }
    }
    return tables
  }()

  private var state: UInt32 = 0xFFFF_FFFF

  init() {}

  mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard var p = bytes.baseAddress, !bytes.isEmpty else { return }
    var remaining = bytes.count
    var c = state
    Self.tables.withUnsafeBufferPointer { tables in
      let t = tables.baseAddress!
      while remaining >= 8 {
        let low = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)) ^ c
        let high = UInt32(littleEndian: (p + 4).loadUnaligned(as: UInt32.self))
        c = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
          ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
          ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
          ^ t[256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
        p += 8
        remaining -= 8
      }
      while remaining > 0 {
        c = t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
        p += 1
        remaining -= 1
      }
    }
    state = c
  }

  mutating func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { update($0) }
  }

  var value: UInt32 { state ^ 0xFFFF_FFFF }

  static func checksum(_ bytes: [UInt8]) -> UInt32 {
    var crc = CRC32()
    crc.update(bytes)
    return crc.value
  }

  /// Eight lowercase hexadecimal digits, the form recorded in file metadata.
  static func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
  }

  /// The value of `hex(_:)` text; nil unless exactly eight hexadecimal digits.
  static func parseHex(_ text: String) -> UInt32? {
    guard text.utf8.count == 8, text.allSatisfy(\.isHexDigit) else { return nil }
    return UInt32(text, radix: 16)
  }
}
