import TestSupport
import Dispatch
import Foundation
import Testing
@testable import Tokenizers

/// decode(encode(s)) == s, byte for byte, for any string; decoding any ids never fails.
@Suite struct RoundTripTests {
  @Test func randomUnicodeRoundTripsThroughGPT2() throws {
    let tokenizer = try Fixtures.gpt2.get()
    var generator = SeededGenerator(seed: 2024)
    for _ in 0..<400 {
      let text = RandomText.string(length: Int.random(in: 0...80, using: &generator), using: &generator)
      let ids = tokenizer.encode(text)
      #expect(ids.allSatisfy { $0 >= 0 && $0 < 50256 }, "special ids are never produced from text")
      #expect(Array(tokenizer.decode(ids).utf8) == Array(text.utf8), "\(text.debugDescription)")
    }
  }

  @Test func mixedTextRoundTripsThroughGPT2() throws {
    let tokenizer = try Fixtures.gpt2.get()
    let text = Fixtures.mixedText
    #expect(Array(tokenizer.decode(tokenizer.encode(text)).utf8) == Array(text.utf8))
  }

  @Test func cachedAndFreshEncodingsAgree() throws {
    // The second encode of the same text comes from the piece cache; a fresh tokenizer has none.
    let shared = try Fixtures.gpt2.get()
    let text = Fixtures.mixedText
    let first = shared.encode(text)
    #expect(shared.encode(text) == first)
    #expect(BPETokenizer(model: shared.model).encode(text) == first)
  }

  @Test func concurrentEncodingsAgree() throws {
    // One thread holds the shared cache; the others fall back to private caches.
    let tokenizer = BPETokenizer(model: try Fixtures.gpt2.get().model)
    let expected = tokenizer.encode(Fixtures.mixedText)
    let results = ResultsBox(count: 8)
    DispatchQueue.concurrentPerform(iterations: 8) { index in
      results.set(index, tokenizer.encode(Fixtures.mixedText))
    }
    #expect(results.all.allSatisfy { $0 == expected })
  }

  @Test func rawBytesRoundTripEvenWhenNotUTF8() throws {
    let tokenizer = try Fixtures.gpt2.get()
    var generator = SeededGenerator(seed: 99)
    for _ in 0..<100 {
      let bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
      #expect(tokenizer.decodeBytes(tokenizer.encode(bytes: bytes)) == bytes)
    }
  }

  @Test func decodingIdsThatSplitACharacterGivesReplacementCharacters() throws {
    let tokenizer = try Fixtures.gpt2.get()
    // "日本語のテキスト" takes 10 tokens for 8 characters, so some tokens hold part of a character.
    let ids = tokenizer.encode("日本語のテキスト")
    #expect(ids.count == 10)
    for id in ids {
      let text = tokenizer.decode([id])
      #expect(Array(text.utf8) == tokenizer.decodeBytes([id]) || text.unicodeScalars.contains("\u{FFFD}"))
    }
    #expect(tokenizer.decode([ids[0]] + [ids[2]]).contains("\u{FFFD}"))
    #expect(tokenizer.decodeBytes(ids) == Array("日本語のテキスト".utf8))
  }

  @Test func decodingArbitraryIdsNeverFails() throws {
    let tokenizer = try Fixtures.gpt2.get()
    var generator = SeededGenerator(seed: 5)
    for _ in 0..<200 {
      let ids = (0..<Int.random(in: 0...20, using: &generator)).map { _ in Int32.random(in: -3...50260, using: &generator) }
      let text = tokenizer.decode(ids)
      #expect(text.utf8.count >= 0)
    }
    #expect(tokenizer.decode([tokenizer.maskId]) == TokenizerConstants.maskText)
    #expect(tokenizer.decode([-1, 50258, Int32.max]) == "\u{FFFD}\u{FFFD}\u{FFFD}")
  }

  @Test func trainedTokenizerRoundTrips() throws {
    let result = try BPETrainer.train(texts: [Fixtures.mixedText], vocabularySize: 400)
    let tokenizer = BPETokenizer(model: result.model)
    var generator = SeededGenerator(seed: 11)
    for _ in 0..<200 {
      let text = RandomText.string(length: Int.random(in: 0...60, using: &generator), using: &generator)
      #expect(Array(tokenizer.decode(tokenizer.encode(text)).utf8) == Array(text.utf8))
    }
  }
}

/// Collects results from several threads.
private final class ResultsBox: @unchecked Sendable {
  private let lock = NSLock()
  private var values: [[Int32]]

  init(count: Int) { values = Array(repeating: [], count: count) }

  func set(_ index: Int, _ value: [Int32]) {
    lock.lock()
    values[index] = value
    lock.unlock()
  }

  var all: [[Int32]] {
    lock.lock()
    defer { lock.unlock() }
    return values
  }
}
