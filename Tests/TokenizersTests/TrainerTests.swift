import Foundation
import Testing
@testable import Tokenizers

@Suite struct TrainerTests {
  static let corpus = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.",
    "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer",
    "aaabdaaabac aaabdaaabac 1234 1234 12 12",
    Fixtures.mixedText,
  ]

  @Test func trainingIsDeterministic() throws {
    let first = try BPETrainer.train(texts: Self.corpus, vocabularySize: 600)
    let second = try BPETrainer.train(texts: Self.corpus, vocabularySize: 600)
    #expect(first.model.merges == second.model.merges)
    #expect(BPETokenizer(model: first.model).identity == BPETokenizer(model: second.model).identity)
  }

  @Test func vocabularyHasBytesMergesAndEndOfText() throws {
    let result = try BPETrainer.train(texts: Self.corpus, vocabularySize: 300)
    let tokenizer = BPETokenizer(model: result.model)
    #expect(!result.stoppedEarly)
    #expect(tokenizer.vocabularySize == 300)
    #expect(result.model.merges.count == 43)
    #expect(tokenizer.eos == 299 && tokenizer.bos == 299 && tokenizer.maskId == 300)
    #expect(result.model.bytes(of: 97) == [97])
    // The most frequent pair of this corpus comes first; merges only join tokens that exist.
    for (index, merge) in result.model.merges.enumerated() {
      #expect(merge.result == Int32(256 + index))
      #expect(merge.left < merge.result && merge.right < merge.result)
    }
    #expect(tokenizer.encode("the the") .count < 7)
  }

  @Test func firstMergeIsTheMostFrequentPairWithTiesBrokenByIds() throws {
    // Pieces: "aaab" ×3 and " ab" ×2 → pairs: (a,a) 6, (a,b) 5, (Ġ,a) 2.
    let result = try BPETrainer.train(texts: ["aaab aaab aaab ab ab"], vocabularySize: 258)
    #expect(result.model.merges.first == BPEMerge(left: 97, right: 97, result: 256))
    // Pieces "ab", " ba" ×2, " ab": (Ġ,b), (a,b) and (b,a) are seen twice each → the smallest ids win.
    let tie = try BPETrainer.train(texts: ["ab ba ab ba"], vocabularySize: 258)
    #expect(tie.model.merges.first == BPEMerge(left: 32, right: 98, result: 256))
  }

  @Test func stopsEarlyWhenPairsRunOut() throws {
    let result = try BPETrainer.train(texts: ["abc abc"], vocabularySize: 1000)
    #expect(result.stoppedEarly)
    #expect(result.model.vocabularySize < 1000)
    // (a,b) and (ab,c) are seen twice; (Ġ,abc) only once, below the minimum count of 2.
    #expect(result.model.merges.count == 2)
    #expect(BPETokenizer(model: result.model).encode("abc abc") == [257, 32, 257])
  }

  @Test func tooSmallVocabularyIsAnError() {
    #expect(throws: TokenizerError.self) { try BPETrainer.train(texts: ["x"], vocabularySize: 256) }
  }

  @Test func trainedFilesReloadWithTheSameIds() throws {
    let corpusFolder = try Fixtures.temporaryDirectory("corpus")
    for (index, text) in Self.corpus.enumerated() {
      try text.write(to: corpusFolder.appendingPathComponent("part\(index).txt"), atomically: true, encoding: .utf8)
    }
    let output = try Fixtures.temporaryDirectory("trained")
    let summary = try TokenizerTraining.train(corpus: [corpusFolder], kind: .bpe, vocabularySize: 500, to: output)
    #expect(summary.files.count == Self.corpus.count)
    let inMemory = BPETokenizer(model: try BPETrainer.train(
      files: summary.files, vocabularySize: 500).model)
    for format in [output, output.appendingPathComponent("vocab.json")] {
      let reloaded = try TokenizerLoader.loadBPE(format)
      #expect(reloaded.identity == summary.identity)
      #expect(reloaded.identity == inMemory.identity)
      #expect(reloaded.encode(Fixtures.mixedText) == inMemory.encode(Fixtures.mixedText))
    }
    // The rank format can hold a trained tokenizer too.
    try TiktokenFormat.write(inMemory.model, to: output.appendingPathComponent("trained.tiktoken"))
    #expect(try TokenizerLoader.loadBPE(output.appendingPathComponent("trained.tiktoken")).identity == inMemory.identity)
  }
}
