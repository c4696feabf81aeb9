import Foundation
import Testing
@testable import Tokenizers

/// The GPT-2 encodings must equal tiktoken's, token for token, whichever file format the tables
/// were read from.
@Suite struct GoldenTests {
  @Test func rankFileHasTheRecordedHash() throws {
    let url = try Fixtures.ranksURL.get()
    let digest = SHA256Hasher.hex(of: try [UInt8](Data(contentsOf: url)))
    #expect(digest == (try Fixtures.golden.get().tiktoken_sha256))
  }

  @Test func preTokenizerPatternIsTheRecordedOne() throws {
    #expect(GPT2PreTokenizer.pattern == (try Fixtures.golden.get().pretokenizer_regex))
  }

  @Test(arguments: TokenizerFormat.allCases.filter { $0 != .characters })
  func goldenCases(format: TokenizerFormat) throws {
    let tokenizer: BPETokenizer
    switch format {
    case .tiktoken:
      tokenizer = try Fixtures.gpt2.get()
    case .vocabularyAndMerges:
      let folder = try Fixtures.gpt2Converted.get()
      tokenizer = BPETokenizer(model: try HuggingFaceFormat.readVocabularyAndMerges(
        vocabulary: folder.appendingPathComponent("vocab.json"), merges: folder.appendingPathComponent("merges.txt")))
    case .huggingFaceJSON:
      tokenizer = BPETokenizer(model: try HuggingFaceFormat.readTokenizerJSON(
        try Fixtures.gpt2Converted.get().appendingPathComponent("tokenizer.json")))
    case .characters:
      return
    }
    #expect(tokenizer.vocabularySize == 50257)
    #expect(tokenizer.eos == 50256 && tokenizer.bos == 50256 && tokenizer.maskId == 50257)
    let cases = try Fixtures.golden.get().cases
    #expect(cases.count >= 20)
    for golden in cases {
      let ids = tokenizer.encode(golden.text)
      #expect(ids == golden.ids, "\(format): \(golden.text.debugDescription.prefix(80))")
      #expect(Array(tokenizer.decode(ids).utf8) == Array(golden.text.utf8))
    }
  }

  @Test func specialTokenIsPlainTextUnlessAskedFor() throws {
    let tokenizer = try Fixtures.gpt2.get()
    #expect(!tokenizer.encode("a<|endoftext|>b").contains(50256))
    #expect(tokenizer.encodeWithSpecialTokens("a<|endoftext|>b") == tokenizer.encode("a") + [50256] + tokenizer.encode("b"))
    #expect(tokenizer.encodeWithSpecialTokens("<|endoftext|><|endoftext|>") == [50256, 50256])
    #expect(tokenizer.decode([50256]) == "<|endoftext|>")
  }
}
