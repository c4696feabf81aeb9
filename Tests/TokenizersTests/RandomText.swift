import TestSupport

/// Random strings for the tokenizer's round-trip and pre-tokeniser tests (seeded: the same on every run).
enum RandomText {
  /// Runs of characters drawn from pools that exercise the pre-tokeniser and UTF-8: ASCII,
  /// apostrophes and contraction letters, all kinds of whitespace, 2-, 3- and 4-byte scalars,
  /// combining marks, digits of several scripts, emoji with joiners and modifiers.
  static func string(length: Int, using generator: inout SeededGenerator) -> String {
    let pools: [[Unicode.Scalar]] = [
      (0x20...0x7e).map { Unicode.Scalar($0)! },
      Array("'sdmtlvreSDMT".unicodeScalars),
      Array(" \t\n\r\u{0B}\u{0C}\u{85}\u{A0}\u{1680}\u{2000}\u{200A}\u{2028}\u{2029}\u{202F}\u{205F}\u{3000}\u{180E}\u{200B}\u{FEFF}".unicodeScalars),
      (0..<64).map { _ in Unicode.Scalar(UInt32.random(in: 0x80..<0x800, using: &generator))! },
      (0..<64).map { _ in Unicode.Scalar(UInt32.random(in: 0x800..<0xD800, using: &generator))! },
      (0..<64).map { _ in Unicode.Scalar(UInt32.random(in: 0xE000...0xFFFF, using: &generator))! },
      (0..<64).map { _ in Unicode.Scalar(UInt32.random(in: 0x10000...0x10FFFF, using: &generator))! },
      (0x300..<0x370).map { Unicode.Scalar($0)! },
      Array("0123456789٠١٢٣४५६७①②³½Ⅻ〇".unicodeScalars),
      Array("😀👍🏽👨‍👩‍👧🇫🇷\u{200D}\u{FE0F}".unicodeScalars),
      (0..<32).map { Unicode.Scalar($0)! },
    ]
    var scalars = String.UnicodeScalarView()
    while scalars.count < length {
      let pool = pools[Int.random(in: 0..<pools.count, using: &generator)]
      for _ in 0..<Int.random(in: 1...6, using: &generator) {
        scalars.append(pool[Int.random(in: 0..<pool.count, using: &generator)])
      }
    }
    return String(scalars)
  }
}
