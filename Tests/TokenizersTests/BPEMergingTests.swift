import TestSupport
import Testing
@testable import Tokenizers

/// The array scan and the heap implement the same merge rule; long pieces stay fast.
@Suite struct BPEMergingTests {
  @Test func scanAndHeapAgree() throws {
    let model = try Fixtures.gpt2.get().model
    var generator = SeededGenerator(seed: 3)
    // Words from the mixed text (real merges apply) and random letters/bytes.
    var pieces = GPT2PreTokenizer.pieces(of: Fixtures.mixedText).map { Array($0.utf8) }
    for _ in 0..<200 {
      let alphabet = Array("etaoinshrdlu Ġ'".utf8)
      pieces.append((0..<Int.random(in: 1...40, using: &generator)).map { _ in
        Bool.random(using: &generator) ? alphabet.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
      })
    }
    try model.byteTokens.withUnsafeBufferPointer { byteTokens in
      for piece in pieces {
        var scanned: [Int32] = [], heaped: [Int32] = []
        piece.withUnsafeBufferPointer { buffer in
          BPEMerging.encodeByScanning(buffer, pairs: model.pairs, byteTokens: byteTokens.baseAddress!, into: &scanned)
          BPEMerging.encodeWithHeap(buffer, pairs: model.pairs, byteTokens: byteTokens.baseAddress!, into: &heaped)
        }
        #expect(scanned == heaped, "\(ByteLevel.string(for: piece))")
        let decoded = scanned.flatMap { model.bytes(of: $0) }
        #expect(decoded == piece)
        try #require(scanned == heaped)
      }
    }
  }

  @Test func longPieceUsesTheHeapAndMatchesGolden() throws {
    let tokenizer = try Fixtures.gpt2.get()
    // The golden case of 200 x's is longer than the scan limit.
    let golden = try Fixtures.golden.get().cases.first { $0.text.hasPrefix("xxxx") }!
    #expect(golden.text.utf8.count > BPEMerging.scanLimit)
    #expect(tokenizer.encode(golden.text) == golden.ids)
    // A 200 kB word must not take quadratic time.
    let long = String(repeating: "abcdefghijklmnopqrstuvwxyz", count: 8000)
    let ids = tokenizer.encode(long)
    #expect(tokenizer.decode(ids) == long)
  }

  @Test func ranksThatCannotBeBuiltByMergingAreRejected() {
    var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
    tokens.append(Array("abc".utf8))  // no "ab" or "bc" below it
    #expect(throws: TokenizerError.self) { try BPEModel(ranks: tokens, specialTokens: []) }
    tokens.insert(Array("ab".utf8), at: 256)
    let model = try? BPEModel(ranks: tokens, specialTokens: [TokenizerConstants.endOfText])
    #expect(model?.merges == [BPEMerge(left: 97, right: 98, result: 256), BPEMerge(left: 256, right: 99, result: 257)])
    #expect(model?.vocabularySize == 259)
  }
}
