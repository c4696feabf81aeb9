/// GPT-2's byte-to-unicode mapping, used by `vocab.json`, `merges.txt` and `tokenizer.json` to
/// write arbitrary bytes as printable text: the printable bytes `!`…`~`, `¡`…`¬` and `®`…`ÿ` stand
/// for themselves; the other 68 bytes (controls, space, DEL, NBSP, soft hyphen…) take the code
/// points 256, 257, … in byte order, so a space is `Ġ` (U+0120) and a newline `Ċ` (U+010A).
public enum ByteLevel {
  /// The character that stands for each byte.
  public static let scalarForByte: [Unicode.Scalar] = {
    var table = [Unicode.Scalar](repeating: " ", count: 256)
    var next: UInt32 = 256
    for byte in 0..<256 {
      if isPrintable(UInt8(byte)) {
        table[byte] = Unicode.Scalar(UInt32(byte))!
      } else {
        table[byte] = Unicode.Scalar(next)!
        next += 1
      }
    }
    return table
  }()

  /// Scalar value → byte, or -1 for scalars outside the 256-character alphabet. The alphabet's
  /// largest scalar is U+0143, so a small array suffices.
  private static let byteForScalarValue: [Int16] = {
    var table = [Int16](repeating: -1, count: 256 + 68)
    for byte in 0..<256 { table[Int(scalarForByte[byte].value)] = Int16(byte) }
    return table
  }()

  /// Whether a byte stands for itself in the mapping.
  @inline(__always)
  static func isPrintable(_ byte: UInt8) -> Bool {
    (0x21...0x7e).contains(byte) || (0xa1...0xac).contains(byte) || (0xae...0xff).contains(byte)
  }

  /// The byte-level text of some bytes, e.g. `[0x20, 0x61]` → `"Ġa"`.
  public static func string<Bytes: Sequence>(for bytes: Bytes) -> String where Bytes.Element == UInt8 {
    var scalars = String.UnicodeScalarView()
    for byte in bytes { scalars.append(scalarForByte[Int(byte)]) }
    return String(scalars)
  }

  /// The bytes a byte-level text stands for, or `nil` if it contains a character outside the
  /// alphabet (e.g. the text of an added token such as `<unk>` written in plain form — all of
  /// `<|endoftext|>`'s characters happen to be inside it).
  public static func bytes(for text: String) -> [UInt8]? {
    var out: [UInt8] = []
    out.reserveCapacity(text.unicodeScalars.count)
    for scalar in text.unicodeScalars {
      let value = Int(scalar.value)
      guard value < byteForScalarValue.count else { return nil }
      let byte = byteForScalarValue[value]
      guard byte >= 0 else { return nil }
      out.append(UInt8(byte))
    }
    return out
  }
}
