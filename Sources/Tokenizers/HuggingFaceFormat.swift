import Formats
import Foundation

/// The Hugging Face / GPT-2 file formats for byte-level BPE: `vocab.json` + `merges.txt`, and the
/// single-file `tokenizer.json`. Tokens are written in byte-level text (`ByteLevel`), except special
/// tokens, which are written as their text.
public enum HuggingFaceFormat {
  /// The first line of a `merges.txt`, as GPT-2's files have it.
  static let mergesHeader = "#version: 0.2"

  // MARK: vocab.json + merges.txt

  /// Reads `vocab.json` (token text → id) and `merges.txt` (one `left right` pair per line, in
  /// priority order). Vocabulary entries that are not byte-level text, and `<|endoftext|>`, are
  /// special tokens.
  public static func readVocabularyAndMerges(vocabulary vocabularyURL: URL, merges mergesURL: URL) throws -> BPEModel {
    let vocabulary = try FileIO.decodeJSON([String: Int].self, from: vocabularyURL)
    let merges = try parseMergesText(FileIO.readBytes(mergesURL), path: mergesURL.path)
    return try buildModel(vocabulary: vocabulary, merges: merges, addedTokens: [],
                          vocabularyPath: vocabularyURL.path, mergesPath: mergesURL.path)
  }

  /// Writes `vocab.json` and `merges.txt` into a folder.
  public static func writeVocabularyAndMerges(_ model: BPEModel, to directory: URL) throws {
    var vocabulary = "{"
    for id in 0..<model.vocabularySize {
      if id > 0 { vocabulary += ", " }
      vocabulary += JSONText.quoted(tokenText(model, Int32(id))) + ": \(id)"
    }
    vocabulary += "}\n"
    try FileIO.write(vocabulary, to: directory.appendingPathComponent("vocab.json"))

    var merges = mergesHeader + "\n"
    for merge in model.merges {
      merges += tokenText(model, merge.left) + " " + tokenText(model, merge.right) + "\n"
    }
    try FileIO.write(merges, to: directory.appendingPathComponent("merges.txt"))
  }

  // MARK: tokenizer.json

  /// Reads a `tokenizer.json` whose model is byte-level BPE with GPT-2's pre-tokeniser.
  public static func readTokenizerJSON(_ url: URL) throws -> BPEModel {
    let file = try FileIO.decodeJSON(TokenizerFile.self, from: url)
    try checkSupported(file, path: url.path)
    var merges: [(String, String, Int)] = []
    merges.reserveCapacity(file.model.merges.count)
    for (index, merge) in file.model.merges.enumerated() {
      switch merge {
      case .pair(let left, let right):
        merges.append((left, right, index))
      case .malformed:
        throw TokenizerError.malformedFile(path: url.path, reason: "model.merges[\(index)] is not \"left right\" or [left, right]")
      }
    }
    let added = (file.added_tokens ?? []).map { (text: $0.content, id: $0.id) }
    return try buildModel(vocabulary: file.model.vocab, merges: merges, addedTokens: added,
                          vocabularyPath: url.path, mergesPath: url.path)
  }

  /// Writes a `tokenizer.json`: model BPE, ByteLevel pre-tokeniser (GPT-2's pattern) and decoder,
  /// the special tokens as `added_tokens`.
  public static func writeTokenizerJSON(_ model: BPEModel, to url: URL) throws {
    var out = "{\n"
    out += "  \"version\": \"1.0\",\n"
    out += "  \"truncation\": null,\n"
    out += "  \"padding\": null,\n"
    out += "  \"added_tokens\": ["
    for (index, special) in model.specialTokens.enumerated() {
      out += index == 0 ? "\n" : ",\n"
      out += "    {\"id\": \(special.id), \"content\": \(JSONText.quoted(special.text)), \"single_word\": false, "
        + "\"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}"
    }
    out += model.specialTokens.isEmpty ? "],\n" : "\n  ],\n"
    out += "  \"normalizer\": null,\n"
    out += "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n"
    out += "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, \"use_regex\": true},\n"
    out += "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n"
    out += "  \"model\": {\n"
    out += "    \"type\": \"BPE\",\n"
    out += "    \"dropout\": null,\n"
    out += "    \"unk_token\": null,\n"
    out += "    \"continuing_subword_prefix\": \"\",\n"
    out += "    \"end_of_word_suffix\": \"\",\n"
    out += "    \"fuse_unk\": false,\n"
    out += "    \"byte_fallback\": false,\n"
    out += "    \"ignore_merges\": false,\n"
    out += "    \"vocab\": {"
    for id in 0..<model.vocabularySize {
      out += id == 0 ? "\n" : ",\n"
      out += "      " + JSONText.quoted(tokenText(model, Int32(id))) + ": \(id)"
    }
    out += "\n    },\n"
    out += "    \"merges\": ["
    for (index, merge) in model.merges.enumerated() {
      out += index == 0 ? "\n" : ",\n"
      out += "      " + JSONText.quoted(tokenText(model, merge.left) + " " + tokenText(model, merge.right))
    }
    out += model.merges.isEmpty ? "]\n" : "\n    ]\n"
    out += "  }\n"
    out += "}\n"
    try FileIO.write(out, to: url)
  }

  // MARK: Shared

  /// How a token is written: byte-level text, or the text of a special token.
  static func tokenText(_ model: BPEModel, _ id: Int32) -> String {
    if model.isSpecialToken(id) { return String(decoding: model.bytes(of: id), as: UTF8.self) }
    return ByteLevel.string(for: model.bytes(of: id))
  }

  /// Parses `merges.txt`: an optional `#version` line, then `left right` lines; blank lines are
  /// skipped. Returns (left, right, line number).
  static func parseMergesText(_ bytes: [UInt8], path: String) throws -> [(String, String, Int)] {
    guard let text = String(bytes: bytes, encoding: .utf8) else {
      throw TokenizerError.malformedFile(path: path, reason: "not UTF-8 text")
    }
    var merges: [(String, String, Int)] = []
    var lineNumber = 0
    for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
      lineNumber += 1
      var line = Substring(rawLine)
      if line.hasSuffix("\r") { line = line.dropLast() }
      if line.isEmpty || (lineNumber == 1 && line.hasPrefix("#version")) { continue }
      // Byte-level text never contains U+0020 (a space is written `Ġ`), so the separator is exact.
      let parts = line.split(separator: " ", omittingEmptySubsequences: false)
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw TokenizerError.malformedFile(path: path, reason: "line \(lineNumber): expected two tokens separated by one space, got \"\(line.prefix(60))\"")
      }
      merges.append((String(parts[0]), String(parts[1]), lineNumber))
    }
    return merges
  }

  /// Turns the text form of the tables into a model. Ids must be dense. A token is special if it is
  /// an added token, if it is `<|endoftext|>`, or if its text is not byte-level text.
  static func buildModel(vocabulary: [String: Int], merges: [(String, String, Int)],
                         addedTokens: [(text: String, id: Int)],
                         vocabularyPath: String, mergesPath: String) throws -> BPEModel {
    var textById: [Int: String] = [:]
    textById.reserveCapacity(vocabulary.count + addedTokens.count)
    for (text, id) in vocabulary {
      guard id >= 0 && id < Int(Int32.max) - 2 else {
        throw TokenizerError.malformedFile(path: vocabularyPath, reason: "token \(JSONText.quoted(text)) has invalid id \(id)")
      }
      if let other = textById.updateValue(text, forKey: id), other != text {
        throw TokenizerError.malformedFile(path: vocabularyPath, reason: "id \(id) is given to both \(JSONText.quoted(other)) and \(JSONText.quoted(text))")
      }
    }
    var addedIds = Set<Int>()
    for added in addedTokens {
      if let other = textById.updateValue(added.text, forKey: added.id), other != added.text {
        throw TokenizerError.malformedFile(path: vocabularyPath, reason: "added token \(JSONText.quoted(added.text)) has id \(added.id), which the vocabulary gives to \(JSONText.quoted(other))")
      }
      addedIds.insert(added.id)
    }
    let count = (textById.keys.max() ?? -1) + 1
    guard count == textById.count else {
      let missing = (0..<count).first { textById[$0] == nil } ?? 0
      throw TokenizerError.malformedFile(path: vocabularyPath, reason: "id \(missing) is missing (ids must be 0..<\(count))")
    }

    var tokens: [[UInt8]] = []
    tokens.reserveCapacity(count)
    var specials: [SpecialToken] = []
    var idByText: [String: Int32] = [:]
    idByText.reserveCapacity(count)
    for id in 0..<count {
      let text = textById[id]!
      let bytes = ByteLevel.bytes(for: text)
      if addedIds.contains(id) || text == TokenizerConstants.endOfText || bytes == nil {
        specials.append(SpecialToken(text: text, id: Int32(id)))
        tokens.append(Array(text.utf8))
      } else {
        tokens.append(bytes!)
        idByText[text] = Int32(id)
      }
    }

    var mergeIds: [(Int32, Int32)] = []
    mergeIds.reserveCapacity(merges.count)
    for (left, right, line) in merges {
      guard let leftId = idByText[left] else {
        throw TokenizerError.malformedFile(path: mergesPath, reason: "merge at line/entry \(line) uses unknown token \(JSONText.quoted(left))")
      }
      guard let rightId = idByText[right] else {
        throw TokenizerError.malformedFile(path: mergesPath, reason: "merge at line/entry \(line) uses unknown token \(JSONText.quoted(right))")
      }
      mergeIds.append((leftId, rightId))
    }
    do {
      return try BPEModel(tokens: tokens, merges: mergeIds, specialTokens: specials)
    } catch TokenizerError.invalidTables(let reason) {
      throw TokenizerError.malformedFile(path: mergesPath, reason: reason)
    }
  }

  /// Rejects settings that would change how text is split or encoded.
  private static func checkSupported(_ file: TokenizerFile, path: String) throws {
    if let type = file.model.type, type != "BPE" {
      throw TokenizerError.unsupported(path: path, feature: "model type \(type) (only BPE is supported)")
    }
    if let normalizer = file.normalizer, normalizer != .null {
      throw TokenizerError.unsupported(path: path, feature: "a normalizer")
    }
    for (name, value) in [("continuing_subword_prefix", file.model.continuing_subword_prefix),
                          ("end_of_word_suffix", file.model.end_of_word_suffix)] {
      if let value, !value.isEmpty {
        throw TokenizerError.unsupported(path: path, feature: "model.\(name) \(JSONText.quoted(value))")
      }
    }
    // The pre-tokeniser must be ByteLevel (alone or in a Sequence); a Split must use GPT-2's pattern.
    var sawByteLevel = false
    func check(_ step: JSONValue) throws {
      switch step["type"]?.stringValue {
      case "ByteLevel":
        sawByteLevel = true
        if step["add_prefix_space"]?.boolValue == true {
          throw TokenizerError.unsupported(path: path, feature: "ByteLevel add_prefix_space = true")
        }
      case "Sequence":
        if case .array(let steps)? = step["pretokenizers"] { for inner in steps { try check(inner) } }
      case "Split":
        let pattern = step["pattern"]?["Regex"]?.stringValue ?? step["pattern"]?["String"]?.stringValue
        if pattern != GPT2PreTokenizer.pattern {
          throw TokenizerError.unsupported(path: path, feature: "Split pre-tokenizer with pattern \(pattern.map(JSONText.quoted) ?? "?") (only GPT-2's is implemented)")
        }
      case let other:
        throw TokenizerError.unsupported(path: path, feature: "pre_tokenizer \(other ?? "null") (only ByteLevel with GPT-2's pattern is implemented)")
      }
    }
    guard let preTokenizer = file.pre_tokenizer, preTokenizer != .null else {
      throw TokenizerError.unsupported(path: path, feature: "no pre_tokenizer (byte-level BPE needs ByteLevel)")
    }
    try check(preTokenizer)
    if !sawByteLevel {
      throw TokenizerError.unsupported(path: path, feature: "pre_tokenizer without ByteLevel")
    }
  }

  // The parts of tokenizer.json that are read (field names as in the file).
  struct TokenizerFile: Decodable {
    var added_tokens: [AddedToken]?
    var normalizer: JSONValue?
    var pre_tokenizer: JSONValue?
    var model: Model
  }

  struct AddedToken: Decodable {
    var id: Int
    var content: String
  }

  struct Model: Decodable {
    var type: String?
    var vocab: [String: Int]
    var merges: [Merge]
    var continuing_subword_prefix: String?
    var end_of_word_suffix: String?
  }

  /// A merge, written `"left right"` (older files) or `["left", "right"]` (newer ones).
  enum Merge: Decodable {
    case pair(String, String)
    case malformed

    init(from decoder: Decoder) throws {
      let container = try decoder.singleValueContainer()
      if let text = try? container.decode(String.self) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        self = parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty
          ? .pair(String(parts[0]), String(parts[1])) : .malformed
      } else if let parts = try? container.decode([String].self), parts.count == 2 {
        self = .pair(parts[0], parts[1])
      } else {
        self = .malformed
      }
    }
  }
}
