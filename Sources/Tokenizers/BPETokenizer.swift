import Foundation

/// A byte-level BPE tokenizer with GPT-2's pre-tokeniser: text is split into pieces
/// (`GPT2PreTokenizer`), each piece's UTF-8 bytes are merged by `BPEModel`'s merge priorities, and
/// the ids of pieces already seen are taken from a cache.
///
/// Encoding is lossless for every string (it works on bytes). Safe to share between threads: the
/// cache is used by one encode at a time, and a concurrent encode works with a private cache instead
/// of waiting.
public final class BPETokenizer: Tokenizer, @unchecked Sendable {
  /// The tables.
  public let model: BPEModel
  /// The end-of-text token's id, if the vocabulary has `<|endoftext|>`.
  public let endOfText: Int32?

  private let cache = WordCache()
  private let cacheLock = NSLock()
  private let identityLock = NSLock()
  private var cachedIdentity: TokenizerIdentity?

  public init(model: BPEModel) {
    self.model = model
    self.endOfText = model.specialTokenId(TokenizerConstants.endOfText)
  }

  public var kind: String { "byte-level-bpe" }
  public var vocabularySize: Int { model.vocabularySize }
  public var bos: Int32? { endOfText }
  public var eos: Int32? { endOfText }

  public var identity: TokenizerIdentity {
    identityLock.lock()
    defer { identityLock.unlock() }
    if let cachedIdentity { return cachedIdentity }
    let identity = TokenizerIdentity(kind: kind, vocabularySize: vocabularySize, sha256: model.tablesDigest())
    cachedIdentity = identity
    return identity
  }

  // MARK: Encoding

  /// The ids of a text. Special-token strings in it are encoded as ordinary text.
  public func encode(_ text: String) -> [Int32] {
    var text = text
    return text.withUTF8 { encode(utf8: $0) }
  }

  /// The ids of some bytes, which need not be valid UTF-8 (invalid bytes are pieces of class
  /// "other", as if they were punctuation).
  public func encode(utf8 bytes: UnsafeBufferPointer<UInt8>) -> [Int32] {
    var output: [Int32] = []
    output.reserveCapacity(bytes.count / 3 + 1)
    if cacheLock.try() {
      defer { cacheLock.unlock() }
      encode(bytes, cache: cache, into: &output)
    } else {
      encode(bytes, cache: WordCache(maximumCount: 1 << 16), into: &output)
    }
    return output
  }

  /// The ids of some bytes (see `encode(utf8:)`).
  public func encode(bytes: [UInt8]) -> [Int32] {
    bytes.withUnsafeBufferPointer { encode(utf8: $0) }
  }

  /// The ids of a text in which occurrences of the special tokens' texts (e.g. `<|endoftext|>`)
  /// become those tokens; the text between them is encoded as usual.
  public func encodeWithSpecialTokens(_ text: String) -> [Int32] {
    let specials = model.specialTokens.map { (bytes: Array($0.text.utf8), id: $0.id) }.filter { !$0.bytes.isEmpty }
    if specials.isEmpty { return encode(text) }
    var text = text
    return text.withUTF8 { bytes in
      var output: [Int32] = []
      var segmentStart = 0
      var index = 0
      while index < bytes.count {
        // The longest special token that starts here wins.
        var match: (length: Int, id: Int32)?
        for special in specials {
          let length = special.bytes.count
          guard length <= bytes.count - index, length > (match?.length ?? 0),
                special.bytes[0] == bytes[index] else { continue }
          if special.bytes.elementsEqual(bytes[index..<(index + length)]) { match = (length, special.id) }
        }
        if let match {
          output += encode(utf8: UnsafeBufferPointer(rebasing: bytes[segmentStart..<index]))
          output.append(match.id)
          index += match.length
          segmentStart = index
        } else {
          index += 1
        }
      }
      output += encode(utf8: UnsafeBufferPointer(rebasing: bytes[segmentStart..<bytes.count]))
      return output
    }
  }

  private func encode(_ bytes: UnsafeBufferPointer<UInt8>, cache: WordCache, into output: inout [Int32]) {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
    let reader = ScalarReader(bytes)
    let pairs = model.pairs
    model.byteTokens.withUnsafeBufferPointer { byteTokenBuffer in
      let byteTokens = byteTokenBuffer.baseAddress!
      var start = 0
      while start < bytes.count {
        let end = GPT2PreTokenizer.pieceEnd(reader, from: start)
        let length = end - start
        let piece = base + start
        if length == 1 {
          output.append(byteTokens[Int(piece[0])])
        } else {
          let hash = WordCache.hash(piece, length)
          if !cache.appendCached(piece, length, hash: hash, to: &output) {
            let firstNew = output.count
            BPEMerging.encode(UnsafeBufferPointer(start: piece, count: length), pairs: pairs,
                              byteTokens: byteTokens, into: &output)
            cache.insert(piece, length, hash: hash, ids: output[firstNew...])
          }
        }
        start = end
      }
    }
  }

  // MARK: Decoding

  /// The bytes that some ids stand for. Ids outside the vocabulary give the UTF-8 of U+FFFD, the
  /// mask id gives `TokenizerConstants.maskText`.
  public func decodeBytes(_ ids: [Int32]) -> [UInt8] {
    var output: [UInt8] = []
    output.reserveCapacity(ids.count * 4)
    let mask = Int32(vocabularySize)
    for id in ids {
      if id >= 0 && Int(id) < vocabularySize {
        output.append(contentsOf: model.bytes(of: id))
      } else if id == mask {
        output.append(contentsOf: TokenizerConstants.maskText.utf8)
      } else {
        output.append(contentsOf: [0xEF, 0xBF, 0xBD])
      }
    }
    return output
  }

  /// The text of some ids. Ids whose bytes split a UTF-8 sequence (e.g. one of the three tokens of a
  /// CJK character decoded alone) give U+FFFD for each invalid sequence, as Swift's UTF-8 decoding
  /// does; use `decodeBytes` to get the raw bytes.
  public func decode(_ ids: [Int32]) -> String {
    String(decoding: decodeBytes(ids), as: UTF8.self)
  }

  /// The byte-level text of one token as `vocab.json` writes it (`Ġthe`), or a special token's text.
  public func tokenText(_ id: Int32) -> String? {
    guard id >= 0 && Int(id) < vocabularySize else { return nil }
    if model.isSpecialToken(id) { return String(decoding: model.bytes(of: id), as: UTF8.self) }
    return ByteLevel.string(for: model.bytes(of: id))
  }
}
