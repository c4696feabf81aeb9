/// One merge rule: the adjacent tokens `left` and `right` become `result`.
public struct BPEMerge: Sendable, Hashable {
  public var left: Int32
  public var right: Int32
  public var result: Int32

  public init(left: Int32, right: Int32, result: Int32) {
    self.left = left
    self.right = right
    self.result = result
  }
}

/// A token that is matched as a whole rather than built from bytes (here `<|endoftext|>`).
public struct SpecialToken: Sendable, Hashable {
  public var text: String
  public var id: Int32

  public init(text: String, id: Int32) {
    self.text = text
    self.id = id
  }
}

/// The tables of a byte-level BPE tokenizer, independent of the file format they came from:
/// the bytes of every token by id, the merges in priority order, and the special tokens.
///
/// Ids are dense, `0..<vocabularySize`. Every one of the 256 bytes has a single-byte token, so any
/// byte string can be encoded. A special token's bytes are the UTF-8 of its text (what decoding
/// prints); it is never produced by merging.
public struct BPEModel: Sendable {
  /// All token bytes, one after another; token `id` is `tokenByteStorage[tokenByteStarts[id]..<tokenByteStarts[id+1]]`.
  let tokenByteStorage: [UInt8]
  let tokenByteStarts: [Int]
  /// The merges, highest priority first.
  public let merges: [BPEMerge]
  /// The special tokens, by increasing id.
  public let specialTokens: [SpecialToken]
  /// The token of each single byte.
  let byteTokens: [Int32]
  /// Pair → packed (priority, result), for encoding.
  let pairs: PairTable
  let isSpecial: [Bool]

  /// The number of tokens, special tokens included (not the mask).
  public var vocabularySize: Int { tokenByteStarts.count - 1 }

  /// The bytes of token `id` (which must be in range).
  public func bytes(of id: Int32) -> ArraySlice<UInt8> {
    tokenByteStorage[tokenByteStarts[Int(id)]..<tokenByteStarts[Int(id) + 1]]
  }

  /// Whether `id` is a special token.
  public func isSpecialToken(_ id: Int32) -> Bool { isSpecial[Int(id)] }

  /// Checks and indexes the tables.
  ///
  /// - Parameters:
  ///   - tokens: the bytes of each token by id (for special tokens: the UTF-8 of their text).
  ///   - merges: `(left, right)` pairs in priority order; each result is the token whose bytes are
  ///     the concatenation. A pair listed twice keeps its first priority.
  ///   - specialTokens: ids of `tokens` that are special, with their text.
  public init(tokens: [[UInt8]], merges: [(Int32, Int32)], specialTokens: [SpecialToken]) throws {
    let count = tokens.count
    guard count <= Int(Int32.max) - 2 else { throw TokenizerError.invalidTables(reason: "too many tokens") }
    var isSpecial = [Bool](repeating: false, count: count)
    for special in specialTokens {
      guard special.id >= 0 && Int(special.id) < count else {
        throw TokenizerError.invalidTables(reason: "special token \(special.text) has id \(special.id) outside 0..<\(count)")
      }
      isSpecial[Int(special.id)] = true
    }

    // Ordinary tokens must have distinct, non-empty bytes, and all 256 bytes must be tokens.
    var idForBytes: [[UInt8]: Int32] = [:]
    idForBytes.reserveCapacity(count)
    var byteTokens = [Int32](repeating: -1, count: 256)
    for (id, bytes) in tokens.enumerated() where !isSpecial[id] {
      guard !bytes.isEmpty else { throw TokenizerError.invalidTables(reason: "token \(id) is empty") }
      if let other = idForBytes.updateValue(Int32(id), forKey: bytes) {
        throw TokenizerError.invalidTables(
          reason: "tokens \(other) and \(id) have the same bytes \(ByteLevel.string(for: bytes))")
      }
      if bytes.count == 1 { byteTokens[Int(bytes[0])] = Int32(id) }
    }
    if let missing = byteTokens.firstIndex(of: -1) {
      throw TokenizerError.invalidTables(
        reason: "no token for byte 0x\(String(missing, radix: 16)) (a byte-level vocabulary needs all 256 bytes)")
    }

    let table = PairTable(minimumCapacity: merges.count)
    var checkedMerges: [BPEMerge] = []
    checkedMerges.reserveCapacity(merges.count)
    for (index, (left, right)) in merges.enumerated() {
      for side in [left, right] where side < 0 || Int(side) >= count || isSpecial[Int(side)] {
        throw TokenizerError.invalidTables(reason: "merge \(index) uses \(side), which is not an ordinary token id")
      }
      let joined = tokens[Int(left)] + tokens[Int(right)]
      guard let result = idForBytes[joined] else {
        throw TokenizerError.invalidTables(
          reason: "merge \(index) (\(ByteLevel.string(for: tokens[Int(left)])) \(ByteLevel.string(for: tokens[Int(right)]))) "
            + "makes \(ByteLevel.string(for: joined)), which is not in the vocabulary")
      }
      if table.insert(left, right, priority: Int32(checkedMerges.count), result: result) {
        checkedMerges.append(BPEMerge(left: left, right: right, result: result))
      }
    }

    var storage: [UInt8] = []
    storage.reserveCapacity(tokens.reduce(0) { $0 + $1.count })
    var starts: [Int] = [0]
    starts.reserveCapacity(count + 1)
    for bytes in tokens {
      storage.append(contentsOf: bytes)
      starts.append(storage.count)
    }
    self.tokenByteStorage = storage
    self.tokenByteStarts = starts
    self.merges = checkedMerges
    self.specialTokens = specialTokens.sorted { $0.id < $1.id }
    self.byteTokens = byteTokens
    self.pairs = table
    self.isSpecial = isSpecial
  }

  /// Builds the tables from tiktoken-style ranks: `tokens[r]` is the token of rank r (its id), and
  /// special tokens follow with the next ids. The merges follow from the ranks: each multi-byte
  /// token of rank r is the merge of the two pieces that BPE, using only the ranks below r, makes
  /// of its bytes; its merge priority is its rank order.
  public init(ranks tokens: [[UInt8]], specialTokens texts: [String]) throws {
    var byteTokens = [Int32](repeating: -1, count: 256)
    for (rank, bytes) in tokens.enumerated() where bytes.count == 1 { byteTokens[Int(bytes[0])] = Int32(rank) }
    if let missing = byteTokens.firstIndex(of: -1) {
      throw TokenizerError.invalidTables(reason: "no rank for the single byte 0x\(String(missing, radix: 16))")
    }
    let table = PairTable(minimumCapacity: tokens.count)
    var merges: [(Int32, Int32)] = []
    merges.reserveCapacity(tokens.count)
    var pieces: [Int32] = []
    try byteTokens.withUnsafeBufferPointer { byteTokenBuffer in
      for (rank, bytes) in tokens.enumerated() where bytes.count != 1 {
        guard !bytes.isEmpty else { throw TokenizerError.invalidTables(reason: "rank \(rank) is an empty token") }
        pieces.removeAll(keepingCapacity: true)
        bytes.withUnsafeBufferPointer {
          BPEMerging.encode($0, pairs: table, byteTokens: byteTokenBuffer.baseAddress!, into: &pieces)
        }
        guard pieces.count == 2 else {
          throw TokenizerError.invalidTables(
            reason: "the token of rank \(rank) (\(ByteLevel.string(for: bytes))) is not the merge of two "
              + "lower-ranked tokens (BPE gives \(pieces.count) pieces)")
        }
        table.insert(pieces[0], pieces[1], priority: Int32(merges.count), result: Int32(rank))
        merges.append((pieces[0], pieces[1]))
      }
    }
    var all = tokens
    var specials: [SpecialToken] = []
    for text in texts {
      specials.append(SpecialToken(text: text, id: Int32(all.count)))
      all.append(Array(text.utf8))
    }
    try self.init(tokens: all, merges: merges, specialTokens: specials)
  }

  /// The id of a special token, by text.
  public func specialTokenId(_ text: String) -> Int32? {
    specialTokens.first { $0.text == text }?.id
  }

  /// Whether the merge priorities follow the token ids (each merge's result has a larger id than
  /// the previous one's, and every multi-byte ordinary token is a merge result), which is what the
  /// tiktoken rank format can express.
  public var mergesFollowIds: Bool {
    var previous: Int32 = -1
    var results = 0
    for merge in merges {
      if merge.result <= previous { return false }
      previous = merge.result
      results += 1
    }
    let multiByteOrdinary = (0..<vocabularySize).filter {
      !isSpecial[$0] && tokenByteStarts[$0 + 1] - tokenByteStarts[$0] > 1
    }.count
    return results == multiByteOrdinary
  }

  /// SHA-256 of the canonical tables: every token (length and bytes, then whether it is special),
  /// then every merge (left, right), then every special token (id and text).
  func tablesDigest() -> String {
    var hasher = SHA256Hasher()
    hasher.update(Array("byte-level-bpe v1".utf8))
    hasher.update(littleEndian: UInt32(vocabularySize))
    for id in 0..<vocabularySize {
      let start = tokenByteStarts[id], end = tokenByteStarts[id + 1]
      hasher.update(littleEndian: UInt32(end - start) | (isSpecial[id] ? 0x8000_0000 : 0))
      tokenByteStorage.withUnsafeBufferPointer { hasher.update(UnsafeBufferPointer(rebasing: $0[start..<end])) }
    }
    hasher.update(littleEndian: UInt32(merges.count))
    for merge in merges {
      hasher.update(littleEndian: UInt32(merge.left))
      hasher.update(littleEndian: UInt32(merge.right))
    }
    for special in specialTokens {
      hasher.update(littleEndian: UInt32(special.id))
      hasher.update(Array(special.text.utf8))
      hasher.update([0])
    }
    return hasher.finalizeHex()
  }
}
