/// CRC-32 as used by ZIP (reflected polynomial 0xEDB88320), computed with a 256-entry table.
struct CRC32 {
  private static let table: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 { c = (c & 1) == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
  }

  private var state: UInt32 = 0xFFFF_FFFF

  mutating func update(_ bytes: [UInt8]) {
    var c = state
    Self.table.withUnsafeBufferPointer { table in
      for byte in bytes { c = table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
    }
    state = c
  }

  var value: UInt32 { state ^ 0xFFFF_FFFF }

  static func checksum(_ bytes: [UInt8]) -> UInt32 {
    var crc = CRC32()
    crc.update(bytes)
    return crc.value
  }
}
