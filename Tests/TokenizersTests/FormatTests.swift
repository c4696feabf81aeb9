import Formats
import Foundation
import Testing
@testable import Tokenizers

/// Writing and reading the three formats, format detection, and clear errors for bad files.
@Suite struct FormatTests {
  /// tiktoken → vocab.json + merges.txt → tokenizer.json → .tiktoken: same tables, same ids.
  @Test func conversionChainKeepsEveryId() throws {
    let original = try Fixtures.gpt2.get()
    let first = try Fixtures.temporaryDirectory("chain-1")
    let second = try Fixtures.temporaryDirectory("chain-2")

    try HuggingFaceFormat.writeVocabularyAndMerges(original.model, to: first)
    let fromVocabulary = try TokenizerLoader.loadBPE(first)
    try HuggingFaceFormat.writeTokenizerJSON(fromVocabulary.model, to: second.appendingPathComponent("tokenizer.json"))
    let fromJSON = try TokenizerLoader.loadBPE(second.appendingPathComponent("tokenizer.json"))
    try TiktokenFormat.write(fromJSON.model, to: second.appendingPathComponent("again.tiktoken"))
    let fromRanks = try TokenizerLoader.loadBPE(second.appendingPathComponent("again.tiktoken"))

    let texts = try Fixtures.golden.get().cases.map(\.text) + [Fixtures.mixedText]
    for tokenizer in [fromVocabulary, fromJSON, fromRanks] {
      #expect(tokenizer.identity == original.identity)
      #expect(tokenizer.model.merges == original.model.merges)
      for text in texts { #expect(tokenizer.encode(text) == original.encode(text)) }
    }
    // The rank file written is byte for byte the one read.
    let rewritten = try Data(contentsOf: second.appendingPathComponent("again.tiktoken"))
    #expect(SHA256Hasher.hex(of: [UInt8](rewritten)) == (try Fixtures.golden.get().tiktoken_sha256))
  }

  @Test func gpt2FilesLookLikeGPT2s() throws {
    let folder = try Fixtures.gpt2Converted.get()
    let merges = try String(contentsOf: folder.appendingPathComponent("merges.txt"), encoding: .utf8)
    #expect(merges.hasPrefix("#version: 0.2\nĠ t\nĠ a\nh e\ni n\n"))
    #expect(merges.split(separator: "\n").count == 50001)
    let vocabulary = try JSONDecoder().decode([String: Int].self, from: Data(contentsOf: folder.appendingPathComponent("vocab.json")))
    #expect(vocabulary.count == 50257)
    #expect(vocabulary["Ġthe"] == 262 && vocabulary["<|endoftext|>"] == 50256 && vocabulary["Ċ"] == 198)
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("tokenizer.json"))) as? [String: Any]
    let model = json?["model"] as? [String: Any]
    #expect(model?["type"] as? String == "BPE")
    #expect((model?["merges"] as? [Any])?.count == 50000)
    let added = (json?["added_tokens"] as? [[String: Any]])?.first
    #expect(added?["content"] as? String == "<|endoftext|>")
    #expect((added?["id"] as? NSNumber)?.intValue == 50256)
  }

  @Test func loaderDetectsEachFormat() throws {
    let folder = try Fixtures.gpt2Converted.get()
    let ranks = try Fixtures.ranksURL.get()
    #expect(try TokenizerLoader.detect(ranks).0 == .tiktoken)
    #expect(try TokenizerLoader.detect(ranks.deletingLastPathComponent()).0 == .tiktoken)
    #expect(try TokenizerLoader.detect(folder).0 == .huggingFaceJSON)
    #expect(try TokenizerLoader.detect(folder.appendingPathComponent("vocab.json")).0 == .vocabularyAndMerges)
    #expect(try TokenizerLoader.detect(folder.appendingPathComponent("merges.txt")).0 == .vocabularyAndMerges)
    // A rank file without the .tiktoken extension is recognised by its content.
    let renamed = try Fixtures.temporaryDirectory("renamed").appendingPathComponent("ranks.txt")
    try FileManager.default.copyItem(at: ranks, to: renamed)
    #expect(try TokenizerLoader.detect(renamed).0 == .tiktoken)
  }

  /// A small trained model, to write bad variants of its files quickly.
  static func smallModel() throws -> BPEModel {
    try BPETrainer.train(texts: ["the cat sat on the mat; the hat that sat"], vocabularySize: 270).model
  }

  @Test func tokenizerJSONMergesMayBePairs() throws {
    let model = try Self.smallModel()
    let folder = try Fixtures.temporaryDirectory("pairs")
    let url = folder.appendingPathComponent("tokenizer.json")
    try HuggingFaceFormat.writeTokenizerJSON(model, to: url)
    // Newer Hugging Face files write each merge as a two-element array.
    var text = try String(contentsOf: url, encoding: .utf8)
    for merge in model.merges {
      let left = HuggingFaceFormat.tokenText(model, merge.left), right = HuggingFaceFormat.tokenText(model, merge.right)
      text = text.replacingOccurrences(of: JSONText.quoted(left + " " + right), with: "[\(JSONText.quoted(left)), \(JSONText.quoted(right))]")
    }
    try text.write(to: url, atomically: true, encoding: .utf8)
    let read = try HuggingFaceFormat.readTokenizerJSON(url)
    #expect(read.merges == model.merges)
  }

  // MARK: Errors

  private func expectError(_ expected: (TokenizerError) -> Bool, _ body: () throws -> Void,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    do {
      try body()
      Issue.record("no error was thrown", sourceLocation: sourceLocation)
    } catch let error as TokenizerError {
      #expect(expected(error), "\(error)", sourceLocation: sourceLocation)
      #expect(!error.description.isEmpty)
    } catch {
      Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
    }
  }

  private func write(_ text: String, _ name: String, in folder: URL) throws -> URL {
    let url = folder.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url
  }

  @Test func missingFiles() throws {
    expectError({ if case .fileNotFound = $0 { true } else { false } }) {
      _ = try TokenizerLoader.load(URL(fileURLWithPath: "/nonexistent/tokenizer.json"))
    }
    let folder = try Fixtures.temporaryDirectory("missing")
    expectError({ if case .unrecognizedFormat = $0 { true } else { false } }) { _ = try TokenizerLoader.load(folder) }
    let vocabulary = try write("{}", "vocab.json", in: folder)
    expectError({ if case .fileNotFound(let path) = $0 { path.hasSuffix("merges.txt") } else { false } }) {
      _ = try TokenizerLoader.load(vocabulary)
    }
  }

  @Test func malformedJSON() throws {
    let folder = try Fixtures.temporaryDirectory("bad-json")
    let url = try write("{\"model\": {\"vocab\": {\"a\": 0,}", "tokenizer.json", in: folder)
    expectError({ if case .malformedFile(let path, _) = $0 { path == url.path } else { false } }) {
      _ = try TokenizerLoader.load(url)
    }
    let wrongShape = try write("{\"model\": {\"vocab\": [1, 2], \"merges\": []}}", "shape.json", in: folder)
    expectError({ if case .malformedFile(_, let reason) = $0 { reason.contains("vocab") } else { false } }) {
      _ = try TokenizerLoader.load(wrongShape)
    }
  }

  @Test func mergesThatReferenceUnknownTokens() throws {
    let model = try Self.smallModel()
    let folder = try Fixtures.temporaryDirectory("bad-merges")
    try HuggingFaceFormat.writeVocabularyAndMerges(model, to: folder)
    let merges = folder.appendingPathComponent("merges.txt")
    try (String(contentsOf: merges, encoding: .utf8) + "Ġzz q\n").write(to: merges, atomically: true, encoding: .utf8)
    expectError({ if case .malformedFile(let path, let reason) = $0 { path == merges.path && reason.contains("Ġzz") } else { false } }) {
      _ = try TokenizerLoader.load(folder)
    }
    // A merge of known tokens whose result is not in the vocabulary.
    try (HuggingFaceFormat.mergesHeader + "\nq z\n").write(to: merges, atomically: true, encoding: .utf8)
    expectError({ if case .malformedFile(_, let reason) = $0 { reason.contains("not in the vocabulary") } else { false } }) {
      _ = try TokenizerLoader.load(folder)
    }
    try (HuggingFaceFormat.mergesHeader + "\nonlyone\n").write(to: merges, atomically: true, encoding: .utf8)
    expectError({ if case .malformedFile(_, let reason) = $0 { reason.contains("line 2") } else { false } }) {
      _ = try TokenizerLoader.load(folder)
    }
  }

  @Test func malformedRankFiles() throws {
    let folder = try Fixtures.temporaryDirectory("bad-ranks")
    var lines = (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }
    let notBase64 = try write((lines + ["not*base64 256"]).joined(separator: "\n"), "a.tiktoken", in: folder)
    expectError({ if case .malformedFile(_, let reason) = $0 { reason.contains("line 257") && reason.contains("base64") } else { false } }) {
      _ = try TokenizerLoader.load(notBase64)
    }
    let gap = try write((lines + ["YWI= 300"]).joined(separator: "\n"), "b.tiktoken", in: folder)
    expectError({ if case .malformedFile(_, let reason) = $0 { reason.contains("rank 256 is missing") } else { false } }) {
      _ = try TokenizerLoader.load(gap)
    }
    lines.removeLast()
    let missingByte = try write(lines.joined(separator: "\n"), "c.tiktoken", in: folder)
    expectError({ if case .malformedFile(_, let reason) = $0 { reason.contains("0xff") } else { false } }) {
      _ = try TokenizerLoader.load(missingByte)
    }
    let noRank = try write("YQ==\n", "d.tiktoken", in: folder)
    expectError({ if case .malformedFile(_, let reason) = $0 { reason.contains("line 1") } else { false } }) {
      _ = try TokenizerLoader.load(noRank)
    }
  }

  @Test func unsupportedTokenizerJSON() throws {
    let folder = try Fixtures.temporaryDirectory("unsupported")
    let wordPiece = try write("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "w.json", in: folder)
    expectError({ if case .unsupported(_, let feature) = $0 { feature.contains("WordPiece") } else { false } }) {
      _ = try TokenizerLoader.load(wordPiece)
    }
    let split = try write("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}", "s.json", in: folder)
    expectError({ if case .unsupported = $0 { true } else { false } }) { _ = try TokenizerLoader.load(split) }
  }

  @Test func idsMustBeDense() throws {
    let folder = try Fixtures.temporaryDirectory("gap")
    var vocabulary = (0..<256).map { "\(JSONText.quoted(ByteLevel.string(for: [UInt8($0)]))): \($0)" }
    vocabulary.append("\"<|endoftext|>\": 300")
    _ = try write("{" + vocabulary.joined(separator: ", ") + "}", "vocab.json", in: folder)
    _ = try write("#version: 0.2\n", "merges.txt", in: folder)
    expectError({ if case .malformedFile(_, let reason) = $0 { reason.contains("id 256 is missing") } else { false } }) {
      _ = try TokenizerLoader.load(folder)
    }
  }
}
