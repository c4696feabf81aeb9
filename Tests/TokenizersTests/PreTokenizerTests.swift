import TestSupport
import Testing
@testable import Tokenizers

/// The hand-written state machine against what GPT-2's pattern matches, case by case.
@Suite struct PreTokenizerTests {
  static let cases: [(String, [String])] = [
    // Contractions: lower case only, matched before anything else, even at the start of a word.
    ("I'm you're he's we'll they've she'd", ["I", "'m", " you", "'re", " he", "'s", " we", "'ll", " they", "'ve", " she", "'d"]),
    ("I'M DON'T", ["I", "'", "M", " DON", "'", "T"]),
    ("don't", ["don", "'t"]),
    ("'twill 'tis", ["'t", "will", " '", "tis"]),
    ("'lll'l'x", ["'ll", "l", "'", "l", "'", "x"]),
    ("'", ["'"]),
    ("!!'s", ["!!'", "s"]),
    // Whitespace: the last space of a run joins the next word; runs before newlines and at the end.
    ("a  b", ["a", " ", " b"]),
    ("a \nb", ["a", " ", "\n", "b"]),
    ("a   \n\n  b", ["a", "   \n\n ", " b"]),
    ("a\n\nb", ["a", "\n", "\n", "b"]),
    ("x   ", ["x", "   "]),
    ("   lead", ["  ", " lead"]),
    ("\t\tx", ["\t", "\t", "x"]),
    (" \n", [" \n"]),
    ("a\u{A0}b", ["a", "\u{A0}", "b"]),
    ("a\u{A0} b", ["a", "\u{A0}", " b"]),
    ("mixed\r\nline\rendings", ["mixed", "\r", "\n", "line", "\r", "endings"]),
    ("end\r\n", ["end", "\r\n"]),
    // Digits: runs of category N, with an optional leading space; never joined to letters.
    ("12345 678", ["12345", " 678"]),
    ("3.14", ["3", ".", "14"]),
    ("a1b2", ["a", "1", "b", "2"]),
    ("x² ½ ٣٤ Ⅻ", ["x", "²", " ½", " ٣٤", " Ⅻ"]),
    // Punctuation and symbols: runs of "other", with an optional leading space.
    ("!!!???...---", ["!!!???...---"]),
    ("a--b (x) ...!", ["a", "--", "b", " (", "x", ")", " ...!"]),
    ("<|endoftext|>", ["<|", "endoftext", "|>"]),
    ("😀👍🏽 ok", ["😀👍🏽", " ok"]),
    // Letters of other scripts; combining marks are not letters.
    ("日本語のテキスト", ["日本語のテキスト"]),
    ("Привет мир", ["Привет", " мир"]),
    (" Ελληνικά", [" Ελληνικά"]),
    ("e\u{301}t\u{E9}", ["e", "\u{301}", "t\u{E9}"]),
    ("", []),
  ]

  @Test func knownCases() {
    for (text, expected) in Self.cases {
      #expect(GPT2PreTokenizer.pieces(of: text) == expected, "\(text.debugDescription)")
    }
  }

  @Test func piecesConcatenateToTheText() {
    var generator = SeededGenerator(seed: 7)
    for _ in 0..<300 {
      let text = RandomText.string(length: Int.random(in: 0...60, using: &generator), using: &generator)
      let pieces = GPT2PreTokenizer.pieces(of: text)
      #expect(Array(pieces.joined().utf8) == Array(text.utf8))
      #expect(pieces.allSatisfy { !$0.isEmpty })
    }
  }

  @Test func invalidUTF8IsSplitWithoutFailing() {
    let bytes: [UInt8] = [0x61, 0xFF, 0xC3, 0x20, 0xE6, 0x97, 0x62, 0xF0, 0x9F, 0x98]
    var total = 0
    bytes.withUnsafeBufferPointer { buffer in
      GPT2PreTokenizer.forEachPiece(in: buffer) { range in total += range.count }
    }
    #expect(total == bytes.count)
  }

  @Test func classesFollowUnicode16() {
    #expect(ScalarClass.classify("A") == ScalarClass.letter)
    #expect(ScalarClass.classify("\u{10D4A}") == ScalarClass.letter)  // Garay, Unicode 16.0
    #expect(ScalarClass.classify("\u{323B0}") == ScalarClass.other)  // CJK Extension J, Unicode 17.0
    #expect(ScalarClass.classify("\u{0378}") == ScalarClass.other)  // unassigned
    #expect(ScalarClass.classify("\u{2028}") == ScalarClass.whitespace)
    #expect(ScalarClass.classify("\u{200B}") == ScalarClass.other)  // zero width space is not White_Space
    #expect(ScalarClass.classify("\u{2167}") == ScalarClass.number)  // Roman numeral eight (Nl)
  }
}
