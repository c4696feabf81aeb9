import Foundation

/// What training produced, with a few numbers worth printing.
public struct BPETrainingResult: Sendable {
  /// The trained tables: the 256 bytes (id = byte value), one token per merge, `<|endoftext|>` last.
  public var model: BPEModel
  /// Bytes of text read.
  public var bytes: Int
  /// Pieces the pre-tokeniser produced, and how many of them were distinct.
  public var pieces: Int
  public var distinctPieces: Int
  /// True if no pair occurred often enough to reach the requested vocabulary size.
  public var stoppedEarly: Bool
}

/// Trains a byte-level BPE tokenizer with GPT-2's pre-tokeniser: the corpus is split into pieces,
/// identical pieces are counted once with their frequency, and the most frequent adjacent pair of
/// tokens is merged until the vocabulary is full.
///
/// Pair counts are updated incrementally: a merge touches only the pieces that contain its pair
/// (found through a per-pair list of pieces) and changes only the counts of the pairs around each
/// occurrence. The best pair comes from a heap whose stale entries are skipped lazily. Ties are
/// broken by the smaller (left, right) id pair, so training is deterministic.
public enum BPETrainer {
  /// Trains on the text of some UTF-8 files.
  /// - Parameters:
  ///   - vocabularySize: tokens in the result, `<|endoftext|>` included (at least 257).
  ///   - minimumPairCount: pairs seen fewer times than this are never merged.
  public static func train(files: [URL], vocabularySize: Int, minimumPairCount: Int = 2) throws -> BPETrainingResult {
    var counter = PieceCounter()
    for file in files {
      let bytes = try FileIO.readBytes(file)
      bytes.withUnsafeBufferPointer { counter.add($0) }
    }
    return try train(counter, vocabularySize: vocabularySize, minimumPairCount: minimumPairCount)
  }

  /// Trains on some texts (each split into pieces on its own).
  public static func train(texts: [String], vocabularySize: Int, minimumPairCount: Int = 2) throws -> BPETrainingResult {
    var counter = PieceCounter()
    for text in texts {
      var text = text
      text.withUTF8 { counter.add($0) }
    }
    return try train(counter, vocabularySize: vocabularySize, minimumPairCount: minimumPairCount)
  }

  /// Distinct pieces and their frequencies.
  struct PieceCounter {
    let index = ByteStringIndex()
    var counts: [Int64] = []
    var bytes = 0
    var pieces = 0

    mutating func add(_ text: UnsafeBufferPointer<UInt8>) {
      bytes += text.count
      GPT2PreTokenizer.forEachPiece(in: text) { range in
        let piece = Int(index.index(of: UnsafeBufferPointer(rebasing: text[range])))
        if piece == counts.count { counts.append(0) }
        counts[piece] += 1
        pieces += 1
      }
    }
  }

  private static func train(_ counter: PieceCounter, vocabularySize: Int, minimumPairCount: Int) throws -> BPETrainingResult {
    guard vocabularySize >= 257 else {
      throw TokenizerError.invalidArgument("the vocabulary size must be at least 257 (256 bytes + <|endoftext|>), got \(vocabularySize)")
    }
    let wantedMerges = vocabularySize - 257
    var state = MergeState(counter)
    var merges: [(Int32, Int32)] = []
    merges.reserveCapacity(wantedMerges)
    while merges.count < wantedMerges, let (left, right) = state.bestPair(minimumCount: Int64(max(1, minimumPairCount))) {
      state.merge(left, right, into: Int32(256 + merges.count))
      merges.append((left, right))
    }

    var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
    for (left, right) in merges { tokens.append(tokens[Int(left)] + tokens[Int(right)]) }
    tokens.append(Array(TokenizerConstants.endOfText.utf8))
    let model = try BPEModel(tokens: tokens, merges: merges, specialTokens: [
      SpecialToken(text: TokenizerConstants.endOfText, id: Int32(tokens.count - 1)),
    ])
    return BPETrainingResult(model: model, bytes: counter.bytes, pieces: counter.pieces,
                             distinctPieces: counter.counts.count, stoppedEarly: merges.count < wantedMerges)
  }

  /// The pieces as token sequences, the pair counts, where each pair occurs, and the heap.
  private struct MergeState {
    var words: [[Int32]]
    var wordCounts: [Int64]
    var pairCounts: [UInt64: Int64] = [:]
    /// Pieces that contain (or once contained) each pair; may hold stale entries and repeats.
    var pairWords: [UInt64: [Int32]] = [:]
    var heap = PairHeap()
    /// Marks pieces already handled in the current merge.
    var visitedInMerge: [Int32]
    var mergeNumber: Int32 = 0

    init(_ counter: PieceCounter) {
      words = (0..<counter.counts.count).map { index in counter.index.key(index).map { Int32($0) } }
      wordCounts = counter.counts
      visitedInMerge = [Int32](repeating: -1, count: words.count)
      for (wordIndex, word) in words.enumerated() where word.count > 1 {
        for position in 0..<(word.count - 1) {
          let key = PairTable.key(word[position], word[position + 1])
          pairCounts[key, default: 0] += wordCounts[wordIndex]
          if pairWords[key]?.last != Int32(wordIndex) { pairWords[key, default: []].append(Int32(wordIndex)) }
        }
      }
      for (key, count) in pairCounts { heap.push(count: count, key: key) }
    }

    /// The most frequent pair (smallest ids among equals), skipping stale heap entries.
    mutating func bestPair(minimumCount: Int64) -> (Int32, Int32)? {
      while let top = heap.pop() {
        let current = pairCounts[top.key] ?? 0
        if current != top.count {
          // Counts only fall after a pair is pushed, so a stale entry is re-queued with its count.
          if current > 0 { heap.push(count: current, key: top.key) }
          continue
        }
        guard current >= minimumCount else { return nil }
        return (Int32(truncatingIfNeeded: top.key >> 32), Int32(truncatingIfNeeded: top.key & 0xffff_ffff))
      }
      return nil
    }

    /// Replaces every (left, right) by `result`, left to right, updating the counts of the pairs
    /// around each occurrence.
    mutating func merge(_ left: Int32, _ right: Int32, into result: Int32) {
      mergeNumber += 1
      let mergedKey = PairTable.key(left, right)
      let candidates = pairWords.removeValue(forKey: mergedKey) ?? []
      var touched = Set<UInt64>()
      for wordIndex in candidates where visitedInMerge[Int(wordIndex)] != mergeNumber {
        visitedInMerge[Int(wordIndex)] = mergeNumber
        let frequency = wordCounts[Int(wordIndex)]
        // Moved out of the array so that editing it does not copy it.
        var word = words[Int(wordIndex)]
        words[Int(wordIndex)] = []
        defer { words[Int(wordIndex)] = word }
        var position = 0
        while position + 1 < word.count {
          guard word[position] == left && word[position + 1] == right else {
            position += 1
            continue
          }
          pairCounts[mergedKey, default: 0] -= frequency
          if position > 0 {
            let before = word[position - 1]
            add(-frequency, before, left)
            add(frequency, before, result, word: wordIndex, touched: &touched)
          }
          if position + 2 < word.count {
            let after = word[position + 2]
            add(-frequency, right, after)
            add(frequency, result, after, word: wordIndex, touched: &touched)
          }
          word[position] = result
          word.remove(at: position + 1)
          position += 1
        }
      }
      pairCounts[mergedKey] = nil
      for key in touched.sorted() {
        if let count = pairCounts[key], count > 0 { heap.push(count: count, key: key) }
      }
    }

    private mutating func add(_ delta: Int64, _ left: Int32, _ right: Int32) {
      let key = PairTable.key(left, right)
      let count = (pairCounts[key] ?? 0) + delta
      pairCounts[key] = count == 0 ? nil : count
    }

    private mutating func add(_ delta: Int64, _ left: Int32, _ right: Int32, word: Int32, touched: inout Set<UInt64>) {
      add(delta, left, right)
      let key = PairTable.key(left, right)
      touched.insert(key)
      if pairWords[key]?.last != word { pairWords[key, default: []].append(word) }
    }
  }
}

/// A heap of (count, pair) with the highest count on top, then the smallest pair.
private struct PairHeap {
  struct Entry {
    var count: Int64
    var key: UInt64
  }
  private var storage: [Entry] = []

  @inline(__always)
  private static func before(_ a: Entry, _ b: Entry) -> Bool {
    a.count > b.count || (a.count == b.count && a.key < b.key)
  }

  mutating func push(count: Int64, key: UInt64) {
    let entry = Entry(count: count, key: key)
    storage.append(entry)
    var child = storage.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      if !PairHeap.before(entry, storage[parent]) { break }
      storage[child] = storage[parent]
      child = parent
    }
    storage[child] = entry
  }

  mutating func pop() -> Entry? {
    guard let last = storage.popLast() else { return nil }
    guard !storage.isEmpty else { return last }
    let top = storage[0]
    var parent = 0
    while true {
      var child = 2 * parent + 1
      if child >= storage.count { break }
      if child + 1 < storage.count && PairHeap.before(storage[child + 1], storage[child]) { child += 1 }
      if !PairHeap.before(storage[child], last) { break }
      storage[parent] = storage[child]
      parent = child
    }
    storage[parent] = last
    return top
  }
}
