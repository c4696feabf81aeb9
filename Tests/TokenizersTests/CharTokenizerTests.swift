import Foundation
import Testing
@testable import Tokenizers

@Suite struct CharTokenizerTests {
  static let corpus = ["hello world", "naïve café — 日本 😀\n\t", "e\u{301}"]

  @Test func encodesEachScalarAndRoundTrips() throws {
    let tokenizer = CharTokenizer(corpus: Self.corpus)
    #expect(tokenizer.scalars == tokenizer.scalars.sorted { $0.value < $1.value })
    #expect(tokenizer.vocabularySize == tokenizer.scalars.count + 1)
    #expect(tokenizer.eos == Int32(tokenizer.scalars.count) && tokenizer.bos == tokenizer.eos)
    #expect(tokenizer.maskId == Int32(tokenizer.vocabularySize))
    for text in Self.corpus {
      let ids = try tokenizer.encode(text)
      #expect(ids.count == text.unicodeScalars.count)
      #expect(Array(tokenizer.decode(ids).utf8) == Array(text.utf8))
    }
    #expect(tokenizer.decode([tokenizer.endOfText, tokenizer.maskId, -1])
      == TokenizerConstants.endOfText + TokenizerConstants.maskText + "\u{FFFD}")
  }

  @Test func unknownCharacterIsAClearError() throws {
    let tokenizer = CharTokenizer(corpus: Self.corpus)
    do {
      _ = try tokenizer.encode("hello Zorld")
      Issue.record("expected an error")
    } catch TokenizerError.unknownCharacter(let scalar, let offset) {
      #expect(scalar == "Z" && offset == 6)
      #expect(TokenizerError.unknownCharacter(scalar: scalar, utf8Offset: offset).description.contains("U+005A"))
    }
  }

  @Test func savesAndLoads() throws {
    let tokenizer = CharTokenizer(corpus: Self.corpus)
    let folder = try Fixtures.temporaryDirectory("char")
    let url = folder.appendingPathComponent(CharTokenizer.fileName)
    try tokenizer.write(to: url)
    let loaded = try TokenizerLoader.load(folder)
    #expect(loaded.kind == "char")
    #expect(loaded.identity == tokenizer.identity)
    #expect(try loaded.encode(Self.corpus[1]) == tokenizer.encode(Self.corpus[1]))
    #expect(throws: TokenizerError.self) { _ = try TokenizerLoader.loadBPE(folder) }
  }

  @Test func identityDependsOnTheVocabulary() {
    #expect(CharTokenizer(corpus: ["ab"]).identity != CharTokenizer(corpus: ["abc"]).identity)
    #expect(CharTokenizer(corpus: ["ab"]).identity == CharTokenizer(corpus: ["ba", "a"]).identity)
  }

  @Test func malformedFiles() throws {
    let folder = try Fixtures.temporaryDirectory("char-bad")
    let unsorted = folder.appendingPathComponent("unsorted.json")
    try #"{"kind": "char", "version": 1, "scalars": [98, 97], "end_of_text": 2}"#.write(to: unsorted, atomically: true, encoding: .utf8)
    #expect(throws: TokenizerError.self) { _ = try CharTokenizer.read(unsorted) }
    let surrogate = folder.appendingPathComponent("surrogate.json")
    try #"{"kind": "char", "version": 1, "scalars": [55296], "end_of_text": 1}"#.write(to: surrogate, atomically: true, encoding: .utf8)
    #expect(throws: TokenizerError.self) { _ = try CharTokenizer.read(surrogate) }
  }

  @Test func trainsThroughTheTrainingEntryPoint() throws {
    let corpusFile = try Fixtures.temporaryDirectory("char-corpus").appendingPathComponent("c.txt")
    try "abcab\n".write(to: corpusFile, atomically: true, encoding: .utf8)
    let output = try Fixtures.temporaryDirectory("char-out")
    let summary = try TokenizerTraining.train(corpus: [corpusFile], kind: .char, vocabularySize: nil, to: output)
    #expect(summary.vocabularySize == 5)
    #expect(throws: TokenizerError.self) {
      _ = try TokenizerTraining.train(corpus: [corpusFile], kind: .char, vocabularySize: 10, to: output)
    }
  }
}
