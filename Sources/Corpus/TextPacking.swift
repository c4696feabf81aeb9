import Engine

/// How text becomes rows, as in the reference (SPEC.md §6): the documents of a split are joined
/// with EOS after each one, the stream is cut into consecutive pieces of `L - 2` tokens, and each
/// piece is stored as `[BOS] piece [EOS]`; the last partial piece is dropped.
///
/// Everything here is a pure function of its arguments (and of a seeded `RandomStream`), so the
/// rules can be tested on hand-made documents.
public enum TextPacking {
  /// The stream of some documents: each document's tokens followed by EOS.
  public static func stream(documents: [[Int32]], eos: Int32) -> [Int32] {
    var stream: [Int32] = []
    stream.reserveCapacity(documents.reduce(0) { $0 + $1.count + 1 })
    for document in documents {
      stream += document
      stream.append(eos)
    }
    return stream
  }

  /// Tokens of the stream in one row: `L - 2` (the row adds BOS and EOS).
  public static func piece(length: Int) -> Int {
    precondition(length >= 3, "a row needs room for BOS, one token and EOS")
    return length - 2
  }

  /// Whole rows a stream of `streamTokens` tokens makes.
  public static func rowCount(streamTokens: Int, length: Int) -> Int {
    streamTokens / piece(length: length)
  }

  /// Writes row `index` of `stream` into `row` (`length` tokens: BOS, the piece, EOS).
  public static func row(_ index: Int, of stream: [Int32], length: Int, bos: Int32, eos: Int32,
                         into row: inout [Int32]) {
    let piece = piece(length: length)
    row.removeAll(keepingCapacity: true)
    row.append(bos)
    row += stream[(index * piece)..<((index + 1) * piece)]
    row.append(eos)
  }

  /// Every row of some documents, in stream order (tests and small corpora).
  public static func rows(documents: [[Int32]], length: Int, bos: Int32, eos: Int32) -> [[Int32]] {
    let stream = stream(documents: documents, eos: eos)
    var row: [Int32] = []
    return (0..<rowCount(streamTokens: stream.count, length: length)).map { index in
      TextPacking.row(index, of: stream, length: length, bos: bos, eos: eos, into: &row)
      return row
    }
  }

  /// The documents that go to validation, as sorted indices; nil when there are fewer than two
  /// documents (then only a row split is possible).
  ///
  /// The rule: visit the documents in a seeded random order and take a document when that brings
  /// the validation size closer to `fraction` of the total than leaving it (its first half fits
  /// under the target), never taking every document; if nothing was taken, take the smallest
  /// document (the first of the visiting order among equals). Sizes are in bytes of text: known
  /// before tokenising, so each file's tokens can go straight to its split.
  public static func validationDocuments(sizes: [Int], fraction: Double, rng: RandomStream) -> [Int]? {
    guard sizes.count >= 2 else { return nil }
    guard fraction > 0 else { return [] }
    var rng = rng
    let order = rng.permutation(sizes.count)
    let target = fraction * Double(sizes.reduce(0, +))
    var chosen: [Int] = []
    var taken = 0.0
    for index in order where chosen.count < sizes.count - 1 {
      let size = Double(sizes[index])
      if taken + size / 2 <= target {
        chosen.append(index)
        taken += size
      }
    }
    if chosen.isEmpty {
      let smallest = order.min { sizes[$0] < sizes[$1] }!  // min keeps the first of equal sizes
      chosen = [smallest]
    }
    return chosen.sorted()
  }

  /// How many of `rows` rows go to validation in a row split: `fraction` of them, rounded, but at
  /// least one and never all when there are two or more rows and the fraction is positive.
  public static func validationRowCount(rows: Int, fraction: Double) -> Int {
    guard fraction > 0, rows >= 2 else { return 0 }
    let wanted = Int((fraction * Double(rows)).rounded())
    return min(max(wanted, 1), rows - 1)
  }
}
