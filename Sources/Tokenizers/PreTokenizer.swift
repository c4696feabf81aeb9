/// GPT-2's pre-tokeniser: splits text into the pieces that BPE then encodes one by one. It is the
/// regular expression
///
///     '(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// written out as a state machine over UTF-8 bytes (a regex engine with look-ahead is far too slow
/// here). At each position the first alternative that matches wins:
///
/// 1. an apostrophe followed by `s`, `d`, `m`, `t`, `ll`, `ve` or `re` (lower case only);
/// 2.–4. an optional single space (U+0020 only) and a run of letters, of digits, or of "other"
///    characters (neither letter, number nor whitespace — punctuation, symbols, emoji…);
/// 5. a run of whitespace not followed by a non-whitespace character: the greedy run gives back its
///    last character when more text follows, so that the last space can prefix the next word;
/// 6. otherwise a run of whitespace, which by then is a single character followed by text.
public enum GPT2PreTokenizer {
  /// The pattern this state machine implements (as recorded with the golden cases).
  public static let pattern = #"'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

  /// The pieces of a text, in order; their concatenation is the text.
  public static func pieces(of text: String) -> [String] {
    var text = text
    return text.withUTF8 { bytes in
      var result: [String] = []
      forEachPiece(in: bytes) { range in
        result.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))
      }
      return result
    }
  }

  /// Calls `body` with the byte range of each piece of some UTF-8 bytes, in order.
  public static func forEachPiece(in bytes: UnsafeBufferPointer<UInt8>,
                                  _ body: (Range<Int>) throws -> Void) rethrows {
    let reader = ScalarReader(bytes)
    var start = 0
    while start < reader.count {
      let end = pieceEnd(reader, from: start)
      try body(start..<end)
      start = end
    }
  }

  /// The byte offset where the piece that starts at `start` ends (always > `start`).
  @inline(__always)
  static func pieceEnd(_ reader: ScalarReader, from start: Int) -> Int {
    let base = reader.base
    let count = reader.count
    let lead = base[start]

    // 1. Contractions. Only ASCII bytes are compared, so no decoding is needed.
    if lead == UInt8(ascii: "'") && start + 1 < count {
      let next = base[start + 1]
      switch next {
      case UInt8(ascii: "s"), UInt8(ascii: "d"), UInt8(ascii: "m"), UInt8(ascii: "t"):
        return start + 2
      case UInt8(ascii: "l"), UInt8(ascii: "v"), UInt8(ascii: "r"):
        if start + 2 < count {
          let third = base[start + 2]
          if (next == UInt8(ascii: "l") && third == UInt8(ascii: "l"))
            || (next != UInt8(ascii: "l") && third == UInt8(ascii: "e")) {
            return start + 3
          }
        }
      default:
        break
      }
      // Otherwise the apostrophe is an "other" character: alternative 4 below.
    }

    // 2.–4. with the optional leading space.
    if lead == UInt8(ascii: " ") && start + 1 < count {
      let (nextClass, nextLength) = reader.classAndLength(at: start + 1)
      if nextClass != ScalarClass.whitespace {
        return reader.endOfRun(from: start + 1 + nextLength, of: nextClass)
      }
      return whitespaceEnd(reader, from: start)
    }

    let (leadClass, leadLength) = reader.classAndLength(at: start)
    if leadClass != ScalarClass.whitespace {
      // 2.–4. without the space.
      return reader.endOfRun(from: start + leadLength, of: leadClass)
    }
    return whitespaceEnd(reader, from: start)
  }

  /// Alternatives 5 and 6 for a piece that starts with whitespace.
  @inline(__always)
  private static func whitespaceEnd(_ reader: ScalarReader, from start: Int) -> Int {
    var position = start
    var lastScalarStart = start
    while position < reader.count {
      let (found, length) = reader.classAndLength(at: position)
      if found != ScalarClass.whitespace { break }
      lastScalarStart = position
      position += length
    }
    // At the end of the text the whole run matches `\s+(?!\S)`.
    if position == reader.count { return position }
    // Followed by text: `\s+(?!\S)` backtracks one character, if that leaves at least one.
    if lastScalarStart > start { return lastScalarStart }
    // A single whitespace character before text: `\s+`.
    return position
  }
}
