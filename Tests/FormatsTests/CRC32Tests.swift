import Foundation
import Testing
import TestSupport
@testable import Formats

/// The slice-by-8 CRC-32 against the published check value and a byte-at-a-time reference.
@Suite struct CRC32Tests {
  /// The textbook bitwise CRC-32 (one bit per step), independent of the tables under test.
  static func reference(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
      c ^= UInt32(byte)
      for _ in 0..<8 { c = (c & 1) == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }
    return c ^ 0xFFFF_FFFF
  }

  @Test func checkValues() {
    #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)  // the CRC catalogue's check value
    #expect(CRC32.checksum([]) == 0)
    #expect(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
  }

  /// Every length around the 8-byte steps, unaligned starts, and updates split at any point.
  @Test func agreesWithTheBitwiseDefinitionForAnyLengthAlignmentAndSplit() {
    var rng = SeededGenerator(seed: 32)
    let data = (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) }
    for length in 0...70 {
      for start in 0..<9 {
        let slice = Array(data[start ..< start + length])
        #expect(CRC32.checksum(slice) == Self.reference(slice), "length \(length) at \(start)")
      }
    }
    let whole = Self.reference(data)
    for split in [0, 1, 7, 8, 9, 150, 299, 300] {
      var crc = CRC32()
      crc.update(Array(data[..<split]))
      crc.update(Array(data[split...]))
      #expect(crc.value == whole, "split at \(split)")
    }
  }

  @Test func hexTextRoundTripsAndRejectsAnythingElse() {
    #expect(CRC32.hex(0x0000_00AB) == "000000ab")
    #expect(CRC32.parseHex("cbf43926") == 0xCBF4_3926)
    #expect(CRC32.parseHex("CBF43926") == 0xCBF4_3926)
    for bad in ["", "cbf4392", "cbf439260", "+bf43926", "xbf43926", "cbf4392６"] { #expect(CRC32.parseHex(bad) == nil, "\(bad)") }
  }

  /// Prints MB/s when PGM_CRC32_BENCH is set (informational; nothing is asserted about speed).
  @Test(.enabled(if: ProcessInfo.processInfo.environment["PGM_CRC32_BENCH"] != nil))
  func throughput() {
    let bytes = [UInt8](repeating: 0x5A, count: 64 << 20)
    let start = Date()
    let value = CRC32.checksum(bytes)
    let seconds = Date().timeIntervalSince(start)
    print("CRC-32 slice-by-8: \(Int(Double(bytes.count) / seconds / 1e6)) MB/s (value \(CRC32.hex(value)))")
  }
}
