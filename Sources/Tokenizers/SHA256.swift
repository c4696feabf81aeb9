import Crypto

/// SHA-256 (swift-crypto) with the small conveniences tokenizer identities need: feeding bytes,
/// buffers and little-endian integers, and a lower-case hex digest.
public struct SHA256Hasher {
  private var hash = Crypto.SHA256()

  public init() {}

  public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
    hash.update(data: Array(bytes))
  }

  public mutating func update(_ buffer: UnsafeBufferPointer<UInt8>) {
    hash.update(bufferPointer: UnsafeRawBufferPointer(buffer))
  }

  public mutating func update(littleEndian value: UInt32) {
    update([UInt8(value & 0xff), UInt8((value >> 8) & 0xff), UInt8((value >> 16) & 0xff), UInt8(value >> 24)])
  }

  /// Ends the message and returns the 32-byte digest.
  public mutating func finalize() -> [UInt8] { Array(hash.finalize()) }

  /// Ends the message and returns the digest as lower-case hex.
  public mutating func finalizeHex() -> String { SHA256Hasher.hexString(finalize()) }

  /// The hex SHA-256 of some bytes.
  public static func hex<Bytes: Sequence>(of bytes: Bytes) -> String where Bytes.Element == UInt8 {
    var hasher = SHA256Hasher()
    hasher.update(bytes)
    return hasher.finalizeHex()
  }

  public static func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0x0f)]) }
    return String(decoding: out, as: UTF8.self)
  }
}
