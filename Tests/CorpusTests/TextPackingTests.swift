// Text packing: [BOS] chunk [EOS] rows, the dropped tail, and the document / row split.
import TestSupport
import Engine
import Foundation
import Testing
import Tokenizers
@testable import Corpus

@Suite struct TextPackingTests {
  @Test func rowsAreBOSChunkEOSAndThePartialTailIsDropped() {
    // Stream: 1 2 3 E 4 5 E (7 tokens); L = 4 cuts pieces of 2: [1 2] [3 E] [4 5], tail [E] dropped.
    let rows = TextPacking.rows(documents: [[1, 2, 3], [4, 5]], length: 4, bos: 9, eos: 9)
    #expect(rows == [[9, 1, 2, 9], [9, 3, 9, 9], [9, 4, 5, 9]])
    #expect(TextPacking.rowCount(streamTokens: 7, length: 4) == 3)
    #expect(TextPacking.rows(documents: [[1]], length: 4, bos: 8, eos: 9) == [[8, 1, 9, 9]])
    #expect(TextPacking.rows(documents: [[]], length: 4, bos: 8, eos: 9).isEmpty)
  }

  @Test func validationDocumentsCoverAboutTheFraction() {
    let rng = RandomStream(seed: 3)
    #expect(TextPacking.validationDocuments(sizes: [100], fraction: 0.05, rng: rng) == nil)
    #expect(TextPacking.validationDocuments(sizes: [100, 100], fraction: 0, rng: rng) == [])
    // Ten equal documents, 20 %: exactly two.
    let two = TextPacking.validationDocuments(sizes: Array(repeating: 100, count: 10), fraction: 0.2, rng: rng)
    #expect(two?.count == 2)
    // Large documents that do not fit are skipped, a small one that does is taken.
    #expect(TextPacking.validationDocuments(sizes: [1000, 10, 1000], fraction: 0.05, rng: rng) == [1])
    // Nothing fits: the smallest document still goes to validation.
    #expect(TextPacking.validationDocuments(sizes: [1000, 990, 1000], fraction: 0.01, rng: rng) == [1])
    // Never every document.
    #expect(TextPacking.validationDocuments(sizes: [10, 10], fraction: 0.99, rng: rng)?.count == 1)
    // Seeded: same seed, same choice; the choice moves with the seed.
    let sizes = Array(repeating: 10, count: 40)
    let a = TextPacking.validationDocuments(sizes: sizes, fraction: 0.1, rng: RandomStream(seed: 1))
    #expect(a == TextPacking.validationDocuments(sizes: sizes, fraction: 0.1, rng: RandomStream(seed: 1)))
    #expect(a != TextPacking.validationDocuments(sizes: sizes, fraction: 0.1, rng: RandomStream(seed: 2)))
    #expect(a?.count == 4)
    #expect(TextPacking.validationRowCount(rows: 9, fraction: 0.25) == 2)
    #expect(TextPacking.validationRowCount(rows: 9, fraction: 0.001) == 1)
    #expect(TextPacking.validationRowCount(rows: 2, fraction: 0.9) == 1)
    #expect(TextPacking.validationRowCount(rows: 1, fraction: 0.5) == 0)
  }

  /// Three documents in a folder: "abcdefg", "hijklmn" and "xy". With 10 % for validation only
  /// "xy" fits (half of a 7-byte document is over the 1.6-byte target), so the split is known.
  @Test func charCorpusPacksIntoExpectedRowsSplitByDocument() throws {
    let scratch = try Scratch()
    try scratch.write("abcdefg", to: "corpus/a.txt")
    try scratch.write("hijklmn", to: "corpus/b.txt")
    try scratch.write("xy", to: "corpus/c.txt")
    let output = URL(fileURLWithPath: scratch.path("out/tokens.h5"))
    let summary = try TextDatasetBuilder.build(TextDatasetOptions(
      corpus: [scratch.url.appendingPathComponent("corpus")], tokenizer: .characters, length: 5,
      output: output, validationFraction: 0.1, seed: 5))

    let dataset = try TokenDataset(path: output.path, expectedLength: 5)
    let tokenizerURL = try #require(dataset.tokenizerURL)
    let tokenizer = try #require(try TokenizerLoader.load(tokenizerURL) as? CharTokenizer)
    let e = TokenizerConstants.endOfText
    func decoded(_ split: DatasetSplit) throws -> [String] {
      try dataset.rows(split, 0..<dataset.rowCount(split)).map { tokenizer.decode($0) }.sorted()
    }
    // Train stream: a b c d e f g E h i j k l m n E (16 tokens) → 5 rows of 3, the last E dropped.
    #expect(try decoded(.train) == ["\(e)abc\(e)", "\(e)def\(e)", "\(e)g\(e)h\(e)",
                                    "\(e)ijk\(e)", "\(e)lmn\(e)"].sorted())
    // Validation stream: x y E → one row.
    #expect(try decoded(.validation) == ["\(e)xy\(e)\(e)"])

    let a = dataset.attributes
    #expect(a.kind == .text)
    #expect(a.vocabularySize == 17)  // a…n, x, y and <|endoftext|>
    #expect(a.bosId == 16 && a.eosId == 16)
    #expect(a.tokenizer == tokenizer.identity.description)
    #expect(a.tokenizerPath == "tokens.tokenizer/char-tokenizer.json")
    #expect(a.sourceFiles.map { URL(fileURLWithPath: $0).lastPathComponent } == ["a.txt", "b.txt", "c.txt"])
    #expect(a.splitRule == .documents)
    #expect(a.seed == 5)
    #expect(try dataset.validationFiles().map { URL(fileURLWithPath: $0).lastPathComponent } == ["c.txt"])
    #expect(try dataset.statistics(.train) == SplitStatistics(rows: 5, documents: 2, tokens: 16, droppedTokens: 1))
    #expect(try dataset.statistics(.validation) == SplitStatistics(rows: 1, documents: 1, tokens: 3, droppedTokens: 0))
    #expect(summary.textTokens == 16)
    #expect(summary.train.rows == 5 && summary.validation.rows == 1)
  }

  @Test func oneDocumentIsSplitByRowsAndTheOrderFollowsTheSeed() throws {
    let scratch = try Scratch()
    let alphabet = "abcdefghijklmnopqrstuvwxyz"
    let file = try scratch.write(alphabet, to: "one.txt")
    func build(_ name: String, seed: UInt64) throws -> TokenDataset {
      let output = URL(fileURLWithPath: scratch.path(name))
      _ = try TextDatasetBuilder.build(TextDatasetOptions(
        corpus: [file], tokenizer: .characters, length: 5, output: output, validationFraction: 0.25, seed: seed))
      return try TokenDataset(path: output.path)
    }
    let dataset = try build("a.h5", seed: 1)
    #expect(dataset.attributes.splitRule == .rows)
    // 26 letters + E = 27 tokens = 9 rows of 3; 25 % of 9 rounds to 2 validation rows.
    #expect(dataset.rowCount(.train) == 7 && dataset.rowCount(.validation) == 2)
    let tokenizer = CharTokenizer(corpus: [alphabet])
    let expected = TextPacking.rows(documents: [try tokenizer.encode(alphabet)], length: 5, bos: 26, eos: 26)
    let train = try dataset.rows(.train, 0..<7), validation = try dataset.rows(.validation, 0..<2)
    #expect((train + validation).sorted { $0.lexicographicallyPrecedes($1) }
            == expected.sorted { $0.lexicographicallyPrecedes($1) })

    let again = try build("b.h5", seed: 1)
    #expect(try again.rows(.train, 0..<7) == train)
    let other = try build("c.h5", seed: 2)
    #expect(try other.rows(.train, 0..<7) != train)
  }

  @Test func badArgumentsFailClearly() throws {
    let scratch = try Scratch()
    let file = try scratch.write("some text", to: "a.txt")
    let output = URL(fileURLWithPath: scratch.path("out.h5"))
    func options(_ corpus: [URL], length: Int = 8, tokenizer: TextTokenizerChoice = .characters) -> TextDatasetOptions {
      TextDatasetOptions(corpus: corpus, tokenizer: tokenizer, length: length, output: output)
    }
    #expect(throws: CorpusError.self) { try TextDatasetBuilder.build(options([file], length: 2)) }
    let missing = scratch.url.appendingPathComponent("missing.txt")
    #expect(throws: CorpusError.corpusNotFound(path: missing.path)) { try TextDatasetBuilder.build(options([missing])) }
    let noTokenizer = scratch.url.appendingPathComponent("nothing.json")
    #expect(throws: CorpusError.unreadableTokenizer(path: noTokenizer.path,
                                                    reason: "file not found: \(noTokenizer.path)")) {
      try TextDatasetBuilder.build(options([file], tokenizer: .file(noTokenizer)))
    }
    _ = try TextDatasetBuilder.build(options([file]))
    #expect(throws: CorpusError.outputExists(path: output.path)) { try TextDatasetBuilder.build(options([file])) }
    var overwrite = options([file])
    overwrite.overwrite = true
    _ = try TextDatasetBuilder.build(overwrite)
  }
}
