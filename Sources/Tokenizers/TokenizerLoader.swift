import Foundation

/// The tokenizer file formats this module reads.
public enum TokenizerFormat: String, Sendable, CaseIterable {
  /// A tiktoken rank file (`*.tiktoken`), plus `<|endoftext|>` after the last rank.
  case tiktoken
  /// `vocab.json` + `merges.txt` in one folder.
  case vocabularyAndMerges
  /// A Hugging Face `tokenizer.json`.
  case huggingFaceJSON
  /// This project's `char-tokenizer.json`.
  case characters
}

/// Finds and reads a tokenizer from a path: a file of any supported format, or a folder that holds
/// one (looked for in the order `tokenizer.json`, `vocab.json` + `merges.txt`, `char-tokenizer.json`,
/// a single `*.tiktoken`).
public enum TokenizerLoader {
  /// Reads whatever tokenizer `path` holds.
  public static func load(_ url: URL) throws -> any Tokenizer {
    let (format, file) = try detect(url)
    switch format {
    case .characters: return try CharTokenizer.read(file)
    default: return BPETokenizer(model: try readBPE(format, file))
    }
  }

  /// Reads a byte-level BPE tokenizer; a character tokenizer at `path` is an error.
  public static func loadBPE(_ url: URL) throws -> BPETokenizer {
    let (format, file) = try detect(url)
    guard format != .characters else {
      throw TokenizerError.unrecognizedFormat(path: url.path, reason: "this is a character tokenizer, a BPE tokenizer was expected")
    }
    return BPETokenizer(model: try readBPE(format, file))
  }

  /// The format of `path` and the file to read (for `.vocabularyAndMerges`, the folder).
  public static func detect(_ url: URL) throws -> (TokenizerFormat, URL) {
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
      throw TokenizerError.fileNotFound(path: url.path)
    }
    func exists(_ name: String, in folder: URL) -> Bool {
      fm.fileExists(atPath: folder.appendingPathComponent(name).path)
    }
    if isDirectory.boolValue {
      if exists("tokenizer.json", in: url) { return try detectFile(url.appendingPathComponent("tokenizer.json")) }
      if exists("vocab.json", in: url) && exists("merges.txt", in: url) { return (.vocabularyAndMerges, url) }
      if exists(CharTokenizer.fileName, in: url) { return (.characters, url.appendingPathComponent(CharTokenizer.fileName)) }
      let rankFiles = ((try? fm.contentsOfDirectory(atPath: url.path)) ?? []).filter { $0.hasSuffix(".tiktoken") }.sorted()
      if rankFiles.count == 1 { return (.tiktoken, url.appendingPathComponent(rankFiles[0])) }
      throw TokenizerError.unrecognizedFormat(
        path: url.path,
        reason: rankFiles.count > 1
          ? "several .tiktoken files (\(rankFiles.joined(separator: ", "))); name one"
          : "no tokenizer.json, vocab.json + merges.txt, \(CharTokenizer.fileName) or .tiktoken file in this folder")
    }
    return try detectFile(url)
  }

  private static func detectFile(_ url: URL) throws -> (TokenizerFormat, URL) {
    let name = url.lastPathComponent
    let folder = url.deletingLastPathComponent()
    if name.hasSuffix(".tiktoken") { return (.tiktoken, url) }
    if name == "vocab.json" || name == "merges.txt" {
      let other = folder.appendingPathComponent(name == "vocab.json" ? "merges.txt" : "vocab.json")
      guard FileManager.default.fileExists(atPath: other.path) else { throw TokenizerError.fileNotFound(path: other.path) }
      return (.vocabularyAndMerges, folder)
    }
    // Otherwise look inside: JSON objects are told apart by their keys, anything else may be ranks.
    let bytes = try FileIO.readBytes(url)
    let firstNonSpace = bytes.first { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }
    if firstNonSpace == UInt8(ascii: "{") {
      struct Probe: Decodable {
        var kind: String?
        var model: JSONValue?
      }
      let probe: Probe
      do {
        probe = try JSONDecoder().decode(Probe.self, from: Data(bytes))
      } catch let error as DecodingError {
        throw TokenizerError.malformedFile(path: url.path, reason: FileIO.describe(error))
      }
      if probe.kind == "char" { return (.characters, url) }
      if probe.model != nil { return (.huggingFaceJSON, url) }
      throw TokenizerError.unrecognizedFormat(path: url.path, reason: "a JSON file that is neither a tokenizer.json (no \"model\") nor a character tokenizer (no \"kind\": \"char\")")
    }
    let firstLine = bytes.prefix { $0 != UInt8(ascii: "\n") }
    if let space = firstLine.firstIndex(of: UInt8(ascii: " ")), Base64.decode(firstLine[..<space]) != nil {
      return (.tiktoken, url)
    }
    throw TokenizerError.unrecognizedFormat(path: url.path, reason: "neither JSON nor tiktoken ranks")
  }

  private static func readBPE(_ format: TokenizerFormat, _ url: URL) throws -> BPEModel {
    switch format {
    case .tiktoken:
      return try TiktokenFormat.read(url)
    case .vocabularyAndMerges:
      return try HuggingFaceFormat.readVocabularyAndMerges(
        vocabulary: url.appendingPathComponent("vocab.json"), merges: url.appendingPathComponent("merges.txt"))
    case .huggingFaceJSON:
      return try HuggingFaceFormat.readTokenizerJSON(url)
    case .characters:
      throw TokenizerError.unrecognizedFormat(path: url.path, reason: "a character tokenizer is not BPE")
    }
  }

  /// Writes `vocab.json`, `merges.txt` and `tokenizer.json` into a folder.
  public static func writeAllFormats(_ model: BPEModel, to directory: URL) throws {
    try HuggingFaceFormat.writeVocabularyAndMerges(model, to: directory)
    try HuggingFaceFormat.writeTokenizerJSON(model, to: directory.appendingPathComponent("tokenizer.json"))
  }

  /// Reads the BPE tokenizer at `source` (any format) and writes it in all formats into `directory`;
  /// returns the tokenizer read. What `pgm tokenizer convert` does.
  @discardableResult
  public static func convert(_ source: URL, to directory: URL) throws -> BPETokenizer {
    let tokenizer = try loadBPE(source)
    try writeAllFormats(tokenizer.model, to: directory)
    return tokenizer
  }
}
